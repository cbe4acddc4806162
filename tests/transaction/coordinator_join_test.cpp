// SPEC §3.1, §3.2, §2.2: the data-manager contract, joining, status and doom of
// the two-phase-commit core (fixtures: coordinator_fixtures.hpp).

#include "tests/support/recording_data_manager.hpp"
#include "tests/transaction/coordinator_fixtures.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/manager.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium;
using atrium::test::call_log;
using atrium::test::log_capture;
using atrium::test::recording_data_manager;
using atrium::test::recording_last_resource;
using atrium::test::recording_synchronizer;
using log_t = std::vector<std::string>;
using namespace atrium::test::coordinator_fixtures;

// ---------------------------------------------------------------------------
// §3.1 contract

TEST_CASE("§3.1 data-manager defaults: sort key \"\", no savepoints, no retry, equals is identity") {
    minimal_dm one, other;
    CHECK(one.sort_key().empty());
    CHECK_FALSE(one.supports_savepoints());
    CHECK(one.savepoint() == nullptr);
    CHECK_FALSE(one.should_retry(std::make_exception_ptr(std::runtime_error("x"))));
    CHECK(one.equals(one));
    CHECK_FALSE(one.equals(other));
}

TEST_CASE("§3.1 every tpc_*, commit and abort call receives the transaction being completed") {
    zope_fixture f;
    f.join_both();
    f.txn->commit();
    CHECK(f.a->last_transaction() == f.txn.get());
    CHECK(f.b->last_transaction() == f.txn.get());

    tpc::coordinator core(tpc::facade::tryton);
    auto c = recording_data_manager::make("c", f.log);
    core.join(c);
    core.rollback_tryton(nullptr);
    CHECK(c->last_transaction() == &core);
}

// ---------------------------------------------------------------------------
// §3.2 join

TEST_CASE("§3.2 join appends in join order and returns the argument") {
    zope_fixture f;
    CHECK(f.txn->join(f.b) == f.b);
    CHECK(f.txn->join(f.a) == f.a);
    REQUIRE(f.txn->resources().size() == 2);
    CHECK(f.txn->resources()[0] == f.b);
    CHECK(f.txn->resources()[1] == f.a);
}

TEST_CASE("§3.2 joining the same object twice registers it once and it is driven once") {
    zope_fixture f;
    f.txn->join(f.a);
    CHECK(f.txn->join(f.a) == f.a);
    CHECK(f.txn->resources().size() == 1);
    f.txn->commit();
    CHECK(f.a->calls("tpc_begin") == 1);
    CHECK(f.a->calls("tpc_finish") == 1);
}

TEST_CASE("§3.2 joining an equal DM returns the registered one and does not add the argument") {
    zope_fixture f;
    auto first = recording_data_manager::make("first", f.log);
    auto second = recording_data_manager::make("second", f.log);
    first->set_equality_key("dsn=x");
    second->set_equality_key("dsn=x");
    CHECK(f.txn->join(first) == first);
    CHECK(f.txn->join(second) == first);
    CHECK(f.txn->resources().size() == 1);
    f.txn->commit();
    CHECK(first->calls("tpc_finish") == 1);
    CHECK(second->calls("tpc_begin") == 0);
}

TEST_CASE("§3.2 the registered DM's equals() decides (Tryton: existing == new)") {
    tpc::coordinator core(tpc::facade::tryton);
    auto log = std::make_shared<call_log>();
    auto registered = recording_data_manager::make("r", log);
    auto candidate = recording_data_manager::make("c", log);
    const tpc::data_manager* asked_about = nullptr;
    registered->set_equals([&](const tpc::data_manager& other) {
        asked_about = &other;
        return true;
    });
    core.join(registered);
    CHECK(core.join(candidate) == registered);
    CHECK(asked_about == candidate.get());
}

TEST_CASE("§3.2 join after COMMITFAILED throws transaction_failed_error") {
    zope_fixture f;
    f.join_both();
    f.a->fail_at("tpc_vote");
    CHECK_THROWS(f.txn->commit());
    REQUIRE(f.txn->state() == tpc::status::commit_failed);
    auto c = recording_data_manager::make("c", f.log);
    CHECK_THROWS_AS(f.txn->join(c), transaction_failed_error);
}

TEST_CASE("§3.2 join when the status is neither ACTIVE nor DOOMED throws value_error") {
    SUBCASE("committed (Zope)") {
        zope_fixture f;
        f.txn->commit();
        REQUIRE(f.txn->state() == tpc::status::committed);
        CHECK_THROWS_AS(f.txn->join(f.a), value_error);
    }
    SUBCASE("committing") {
        zope_fixture f;
        auto late = recording_data_manager::make("late", f.log);
        f.txn->join(f.a);
        bool threw = false;
        // A DM that tries to join another one while the transaction is COMMITTING.
        class joining_dm final : public recording_data_manager {
        public:
            using recording_data_manager::recording_data_manager;
            std::shared_ptr<tpc::data_manager> other;
            bool* threw = nullptr;
            void commit(tpc::coordinator& txn) override {
                recording_data_manager::commit(txn);
                try {
                    txn.join(other);
                } catch (const value_error&) {
                    *threw = true;
                }
            }
        };
        auto dm = std::make_shared<joining_dm>("j", f.log);
        dm->other = late;
        dm->threw = &threw;
        f.txn->join(dm);
        f.txn->commit();
        CHECK(threw);
        CHECK(late->calls("tpc_begin") == 0);
    }
    SUBCASE("doomed is allowed") {
        zope_fixture f;
        f.txn->doom();
        CHECK(f.txn->join(f.a) == f.a);
    }
}

// ---------------------------------------------------------------------------
// §2.2 status and doom (core)

TEST_CASE("§2.2 status names") {
    CHECK(tpc::to_string(tpc::status::active) == "Active");
    CHECK(tpc::to_string(tpc::status::committing) == "Committing");
    CHECK(tpc::to_string(tpc::status::committed) == "Committed");
    CHECK(tpc::to_string(tpc::status::doomed) == "Doomed");
    CHECK(tpc::to_string(tpc::status::commit_failed) == "Commit failed");
}

TEST_CASE("§2.2 doom: ACTIVE→DOOMED, DOOMED no-op, otherwise value_error(\"non-doomable\")") {
    tpc::coordinator core(tpc::facade::zope);
    CHECK_FALSE(core.is_doomed());
    core.doom();
    CHECK(core.is_doomed());
    CHECK(core.state() == tpc::status::doomed);
    core.doom();
    CHECK(core.state() == tpc::status::doomed);

    tpc::coordinator committed(tpc::facade::zope);
    committed.commit();
    CHECK_THROWS_WITH_AS(committed.doom(), "non-doomable", value_error);

    auto log = std::make_shared<call_log>();
    tpc::coordinator failed(tpc::facade::zope);
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("commit");
    failed.join(dm);
    CHECK_THROWS(failed.commit());
    CHECK_THROWS_WITH_AS(failed.doom(), "non-doomable", value_error);
}

TEST_CASE("§2.2 commit while COMMITTING is refused") {
    auto log = std::make_shared<call_log>();
    tpc::coordinator core(tpc::facade::zope);
    class reentrant final : public recording_data_manager {
    public:
        using recording_data_manager::recording_data_manager;
        bool refused = false;
        void tpc_vote(tpc::coordinator& txn) override {
            recording_data_manager::tpc_vote(txn);
            try {
                txn.commit();
            } catch (const value_error&) {
                refused = true;
            }
        }
    };
    auto dm = std::make_shared<reentrant>("r", log);
    core.join(dm);
    core.commit();
    CHECK(dm->refused);
    CHECK(dm->calls("tpc_finish") == 1);
}
