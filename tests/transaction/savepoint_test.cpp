// SPEC §3.7: transaction savepoints over recording data managers (and §3.2's
// abort-savepoint for a DM that joins after a savepoint).

#include "tests/support/recording_data_manager.hpp"
#include "transaction/errors.hpp"
#include "transaction/manager.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium;
using atrium::test::call_log;
using atrium::test::recording_data_manager;
using log_t = std::vector<std::string>;

namespace {

struct fixture {
    std::shared_ptr<call_log> log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    std::shared_ptr<tpc::zope_transaction> txn = manager.begin();
    std::shared_ptr<recording_data_manager> a = make("a");
    std::shared_ptr<recording_data_manager> b = make("b");

    std::shared_ptr<recording_data_manager> make(const std::string& name, bool savepoints = true) {
        auto dm = recording_data_manager::make(name, log, name);
        dm->enable_savepoints(savepoints);
        return dm;
    }
};

}  // namespace

TEST_CASE("§3.7 savepoint() takes a savepoint of every joined DM; rollback restores them in order") {
    fixture f;
    f.a->change(*f.txn, 1);
    f.b->change(*f.txn, 10);
    auto sp = f.txn->savepoint();
    CHECK(*f.log == log_t{"a.savepoint", "b.savepoint"});
    f.a->set_value(2);
    f.b->set_value(20);
    f.log->clear();
    sp.rollback();
    CHECK(*f.log == log_t{"a.savepoint_rollback", "b.savepoint_rollback"});
    CHECK(f.a->value() == 1);
    CHECK(f.b->value() == 10);
    CHECK(f.txn->state() == tpc::status::active);
    CHECK(f.txn->resources().size() == 2);
}

TEST_CASE("§3.7 savepoints are numbered 1, 2, … per transaction") {
    fixture f;
    tpc::savepoint none;
    CHECK(none.number() == 0);
    CHECK_FALSE(none.valid());
    auto s1 = f.txn->savepoint();
    auto s2 = f.txn->savepoint();
    auto s3 = f.manager.savepoint();
    CHECK(s1.number() == 1);
    CHECK(s2.number() == 2);
    CHECK(s3.number() == 3);
    f.txn->commit();
    auto next = f.manager.begin();
    CHECK(next->savepoint().number() == 1);
}

TEST_CASE("§3.7 rollback of savepoint k invalidates later savepoints; k stays valid (repeatable)") {
    fixture f;
    f.a->change(*f.txn, 1);
    auto s1 = f.txn->savepoint();
    f.a->set_value(2);
    auto s2 = f.txn->savepoint();
    f.a->set_value(3);
    auto s3 = f.txn->savepoint();
    f.a->set_value(4);

    s2.rollback();
    CHECK(f.a->value() == 2);
    CHECK(s1.valid());
    CHECK(s2.valid());
    CHECK_FALSE(s3.valid());
    CHECK_THROWS_WITH_AS(s3.rollback(), "invalidated by a later savepoint", invalid_savepoint_rollback_error);

    f.a->set_value(5);
    s2.rollback();  // again
    CHECK(f.a->value() == 2);
    s1.rollback();
    CHECK(f.a->value() == 1);
    CHECK_FALSE(s2.valid());
    s1.rollback();
    CHECK(f.a->value() == 1);
    CHECK(f.a->calls("savepoint_rollback") == 4);
}

TEST_CASE("§3.7 valid is false after commit, after abort, and after invalidation") {
    SUBCASE("commit") {
        fixture f;
        f.a->change(*f.txn, 1);
        auto sp = f.txn->savepoint();
        f.txn->commit();
        CHECK_FALSE(sp.valid());
        CHECK_THROWS_AS(sp.rollback(), invalid_savepoint_rollback_error);
    }
    SUBCASE("abort") {
        fixture f;
        auto sp = f.txn->savepoint();
        f.txn->abort();
        CHECK_FALSE(sp.valid());
        CHECK_THROWS_AS(sp.rollback(), invalid_savepoint_rollback_error);
    }
    SUBCASE("failed commit (step 2 invalidates before anything else)") {
        fixture f;
        f.a->change(*f.txn, 1);
        f.a->fail_at("tpc_vote");
        auto sp = f.txn->savepoint();
        CHECK_THROWS(f.txn->commit());
        CHECK_FALSE(sp.valid());
    }
    SUBCASE("invalidation by an earlier savepoint's rollback") {
        fixture f;
        auto s1 = f.txn->savepoint();
        auto s2 = f.txn->savepoint();
        s1.rollback();
        CHECK_FALSE(s2.valid());
    }
    SUBCASE("the transaction is destroyed") {
        tpc::savepoint sp;
        {
            tpc::zope_transaction txn;
            sp = txn.savepoint();
            CHECK(sp.valid());
        }
        CHECK_FALSE(sp.valid());
        CHECK_THROWS_AS(sp.rollback(), invalid_savepoint_rollback_error);
    }
}

TEST_CASE("§3.7 a DM without savepoint support: optimistic ⇒ placeholder whose rollback throws type_error") {
    fixture f;
    auto plain = f.make("plain", false);
    f.a->change(*f.txn, 1);
    f.txn->join(plain);
    auto sp = f.txn->savepoint(true);
    CHECK(sp.valid());
    CHECK(*f.log == log_t{"a.savepoint"});
    CHECK(f.txn->state() == tpc::status::active);
    f.a->set_value(2);
    CHECK_THROWS_WITH_AS(sp.rollback(), doctest::Contains("Savepoints unsupported"), type_error);
    CHECK(f.a->value() == 1);  // DMs before the placeholder were rolled back
    CHECK(f.txn->state() == tpc::status::commit_failed);  // any rollback failure
}

TEST_CASE("§3.7 a DM without savepoint support, not optimistic: clean-up, COMMITFAILED, type_error") {
    fixture f;
    auto plain = f.make("plain", false);
    f.a->change(*f.txn, 1);
    f.txn->join(plain);
    f.b->change(*f.txn, 1);
    f.log->clear();
    try {
        f.txn->savepoint();
        FAIL("expected type_error");
    } catch (const type_error& e) {
        CHECK(std::string(e.what()).rfind("Savepoints unsupported", 0) == 0);
        CHECK(std::string(e.what()).find("plain") != std::string::npos);
    }
    CHECK(*f.log == log_t{"a.savepoint", "a.abort", "plain.abort", "b.abort", "a.tpc_abort", "plain.tpc_abort",
                          "b.tpc_abort"});
    CHECK(f.txn->state() == tpc::status::commit_failed);
    CHECK(f.txn->failure_description().find("Savepoints unsupported") != std::string::npos);
    CHECK_THROWS_AS(f.txn->savepoint(true), transaction_failed_error);
    CHECK_THROWS_AS(f.txn->commit(), transaction_failed_error);
}

TEST_CASE("§3.7 a DM whose savepoint() throws: the same clean-up, COMMITFAILED, the error propagates") {
    fixture f;
    f.a->change(*f.txn, 1);
    f.b->change(*f.txn, 1);
    f.b->fail_at("savepoint", std::make_exception_ptr(std::runtime_error("no snapshot")));
    f.log->clear();
    CHECK_THROWS_WITH(f.txn->savepoint(), "no snapshot");
    CHECK(*f.log == log_t{"a.savepoint", "b.savepoint", "a.abort", "b.abort", "a.tpc_abort", "b.tpc_abort"});
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

TEST_CASE("§3.7 savepoint() after COMMITFAILED throws transaction_failed_error") {
    fixture f;
    f.a->change(*f.txn, 1);
    f.a->fail_at("commit");
    CHECK_THROWS(f.txn->commit());
    CHECK_THROWS_AS(f.txn->savepoint(), transaction_failed_error);
    CHECK_THROWS_AS(f.manager.savepoint(true), transaction_failed_error);
}

TEST_CASE("§3.7 a DM savepoint rollback failure marks the transaction COMMITFAILED and throws") {
    fixture f;
    f.a->change(*f.txn, 1);
    f.b->change(*f.txn, 1);
    auto sp = f.txn->savepoint();
    f.a->fail_at("savepoint_rollback", std::make_exception_ptr(std::runtime_error("cannot restore")));
    CHECK_THROWS_WITH(sp.rollback(), "cannot restore");
    CHECK(f.txn->state() == tpc::status::commit_failed);
    CHECK(f.txn->failure_description().find("cannot restore") != std::string::npos);
    CHECK(f.b->calls("savepoint_rollback") == 0);
    CHECK_THROWS_AS(f.txn->commit(), transaction_failed_error);
    f.txn->abort();
    CHECK(f.manager.current() == nullptr);
}

TEST_CASE("§3.7/§3.2 a DM that joined after savepoint k is aborted and removed by k's rollback") {
    fixture f;
    f.a->change(*f.txn, 1);
    auto s1 = f.txn->savepoint();
    auto s2 = f.txn->savepoint();
    f.b->change(*f.txn, 5);  // joins after both savepoints
    f.log->clear();
    s2.rollback();
    CHECK(*f.log == log_t{"a.savepoint_rollback", "b.abort"});
    CHECK(f.txn->resources().size() == 1);
    CHECK(f.txn->resources()[0] == f.a);

    // It changes data again: it re-joins and is committed exactly once.
    f.b->change(*f.txn, 6);
    CHECK(f.txn->resources().size() == 2);
    f.log->clear();
    f.txn->commit();
    CHECK(f.b->calls("tpc_begin") == 1);
    CHECK(f.b->calls("tpc_finish") == 1);
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.tpc_vote", "b.tpc_vote",
                          "a.tpc_finish", "b.tpc_finish"});
    CHECK_FALSE(s1.valid());
}

TEST_CASE("§3.7 a late DM is added only to savepoints that are still valid; rollback of an earlier one removes it") {
    fixture f;
    auto s1 = f.txn->savepoint();
    auto s2 = f.txn->savepoint();
    s1.rollback();  // invalidates s2
    f.b->change(*f.txn, 1);
    f.log->clear();
    s1.rollback();
    CHECK(*f.log == log_t{"b.abort"});
    CHECK(f.txn->resources().empty());
    s1.rollback();  // repeatable: abort is idempotent, nothing left to remove
    CHECK(f.b->calls("abort") == 2);
}

TEST_CASE("§3.7 a DM without savepoint support that joins after an optimistic savepoint is aborted on rollback") {
    fixture f;
    auto sp = f.txn->savepoint();
    auto plain = f.make("plain", false);
    f.txn->join(plain);
    CHECK_NOTHROW(sp.rollback());
    CHECK(plain->calls("abort") == 1);
    CHECK(f.txn->resources().empty());
    CHECK(f.txn->state() == tpc::status::active);
}

TEST_CASE("§3.7 savepoints of a doomed transaction work") {
    fixture f;
    f.a->change(*f.txn, 1);
    f.txn->doom();
    auto sp = f.txn->savepoint();
    f.a->set_value(2);
    sp.rollback();
    CHECK(f.a->value() == 1);
    CHECK(f.txn->state() == tpc::status::doomed);
}

TEST_CASE("§3.7 dropping every handle forgets the savepoint (a late DM is then not tracked)") {
    fixture f;
    {
        auto sp = f.txn->savepoint();
        CHECK(f.txn->has_savepoints());
    }
    CHECK_FALSE(f.txn->has_savepoints());
    f.b->change(*f.txn, 1);
    auto again = f.txn->savepoint();
    CHECK(again.number() == 2);
}
