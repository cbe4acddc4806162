// SPEC §3.1–§3.6: the two-phase-commit core (tpc::coordinator) through both
// facades — the Zope-style tpc::transaction and a Tryton-style core with a
// recording last resource — using recording data managers.

#include "fiber/unwind.hpp"
#include "tests/support/recording_data_manager.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/manager.hpp"
#include "transaction/retry_helpers.hpp"

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

namespace {

struct zope_fixture {
    std::shared_ptr<call_log> log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    std::shared_ptr<tpc::transaction> txn = manager.begin();
    // "b" joined before "a": commit order is a, b.
    std::shared_ptr<recording_data_manager> b = recording_data_manager::make("b", log, "b");
    std::shared_ptr<recording_data_manager> a = recording_data_manager::make("a", log, "a");

    void join_both() {
        txn->join(b);
        txn->join(a);
    }
};

struct tryton_fixture {
    std::shared_ptr<call_log> log = std::make_shared<call_log>();
    tpc::coordinator core{tpc::facade::tryton};
    recording_last_resource main{log};
    std::shared_ptr<recording_data_manager> b = recording_data_manager::make("b", log, "b");
    std::shared_ptr<recording_data_manager> a = recording_data_manager::make("a", log, "a");

    void join_both() {
        core.join(b);
        core.join(a);
    }
};

/// A DM that records the coordinator status it sees in tpc_begin.
class status_probe final : public recording_data_manager {
public:
    using recording_data_manager::recording_data_manager;
    void tpc_begin(tpc::coordinator& txn) override {
        seen = txn.state();
        recording_data_manager::tpc_begin(txn);
    }
    tpc::status seen = tpc::status::active;
};

/// The minimal DM: only the pure virtual methods.
class minimal_dm final : public tpc::data_manager {
public:
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator&) override {}
    void tpc_finish(tpc::coordinator&) override {}
    void tpc_abort(tpc::coordinator&) override {}
    void abort(tpc::coordinator&) override {}
};

}  // namespace

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
// §3.3 commit: reference traces (Zope facade)

TEST_CASE("§3.3 reference trace: success with one hook of each kind and a synchronizer") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();  // drop the newTransaction of the late registration
    f.join_both();
    f.txn->add_before_commit_hook([&] { f.log->push_back("before-commit hook"); });
    f.txn->add_after_commit_hook(
        [&](bool ok) { f.log->push_back(std::string("after-commit hook(") + (ok ? "true" : "false") + ")"); });
    f.txn->add_before_abort_hook([&] { f.log->push_back("before-abort hook"); });
    f.txn->add_after_abort_hook([&] { f.log->push_back("after-abort hook"); });

    f.txn->commit();

    CHECK(*f.log == log_t{"before-commit hook", "beforeCompletion", "a.tpc_begin", "b.tpc_begin", "a.commit",
                          "b.commit", "a.tpc_vote", "b.tpc_vote", "a.tpc_finish", "b.tpc_finish", "afterCompletion",
                          "after-commit hook(true)", "b.abort", "a.abort"});
    CHECK(f.txn->state() == tpc::status::committed);
}

TEST_CASE("§3.3 reference trace: b fails in tpc_begin") {
    zope_fixture f;
    f.join_both();
    f.b->fail_at("tpc_begin");
    CHECK_THROWS_WITH_AS(f.txn->commit(), "b.tpc_begin failed", std::runtime_error);
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "a.abort", "b.abort", "a.tpc_abort", "b.tpc_abort"});
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

TEST_CASE("§3.3 reference trace: b fails in commit") {
    zope_fixture f;
    f.join_both();
    f.b->fail_at("commit");
    CHECK_THROWS_WITH_AS(f.txn->commit(), "b.commit failed", std::runtime_error);
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.abort", "b.abort", "a.tpc_abort",
                          "b.tpc_abort"});
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

TEST_CASE("§3.3 reference trace: b fails in tpc_vote") {
    zope_fixture f;
    f.join_both();
    f.b->fail_at("tpc_vote");
    CHECK_THROWS_WITH_AS(f.txn->commit(), "b.tpc_vote failed", std::runtime_error);
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.tpc_vote", "b.tpc_vote",
                          "b.abort", "a.tpc_abort", "b.tpc_abort"});
    CHECK(f.b->calls("tpc_finish") == 0);
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

// ---------------------------------------------------------------------------
// §3.3 commit: steps

TEST_CASE("§3.3 step 1: a doomed transaction refuses every commit without side effects") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    int hooks = 0;
    f.txn->add_before_commit_hook([&] { ++hooks; });
    f.txn->add_after_commit_hook([&](bool) { ++hooks; });
    auto sp = f.txn->savepoint(true);
    f.txn->doom();
    CHECK_THROWS_AS(f.txn->commit(), doomed_transaction);
    CHECK_THROWS_AS(f.txn->commit(), doomed_transaction);
    CHECK(f.log->empty());
    CHECK(hooks == 0);
    CHECK(f.txn->before_commit_hooks().size() == 1);
    CHECK(sp.valid());  // stopped before step 2
    CHECK(f.txn->state() == tpc::status::doomed);
    f.txn->abort();  // abort works normally
    CHECK(f.log->back() == "afterCompletion");
    CHECK(f.a->calls("abort") == 1);
}

TEST_CASE("§3.3 step 3: commit after COMMITFAILED throws transaction_failed_error with the saved failure") {
    zope_fixture f;
    f.join_both();
    f.a->fail_at("commit", std::make_exception_ptr(std::runtime_error("disk on fire")));
    CHECK_THROWS_WITH(f.txn->commit(), "disk on fire");
    f.log->clear();
    try {
        f.txn->commit();
        FAIL("commit after COMMITFAILED must throw");
    } catch (const transaction_failed_error& e) {
        const std::string what = e.what();
        CHECK(what.rfind("An operation previously failed", 0) == 0);
        CHECK(what.find("disk on fire") != std::string::npos);
        CHECK(what.find(f.txn->failure_description()) != std::string::npos);
    }
    CHECK(f.log->empty());
}

TEST_CASE("§3.3 step 4: a before-commit hook error propagates; rest discarded; status ACTIVE; nothing else") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    bool second_ran = false;
    f.txn->add_before_commit_hook([] { throw std::runtime_error("hook says no"); });
    f.txn->add_before_commit_hook([&] { second_ran = true; });
    f.txn->add_after_commit_hook([&](bool) { f.log->push_back("after-commit hook"); });
    CHECK_THROWS_WITH(f.txn->commit(), "hook says no");
    CHECK_FALSE(second_ran);
    CHECK(f.txn->before_commit_hooks().empty());
    CHECK(f.txn->state() == tpc::status::active);
    CHECK(f.log->empty());  // no synchronizer, no DM, no after-commit hook
    CHECK(f.txn->resources().size() == 2);
    // The transaction can still be committed.
    f.txn->commit();
    CHECK(f.a->calls("tpc_finish") == 1);
}

TEST_CASE("§3.3 step 6: beforeCompletion runs before the status becomes COMMITTING") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    tpc::status during_before_completion = tpc::status::committed;
    struct probe final : tpc::synchronizer {
        tpc::status* out;
        explicit probe(tpc::status* o) : out(o) {}
        void before_completion(tpc::coordinator& txn) override { *out = txn.state(); }
    };
    auto p = std::make_shared<probe>(&during_before_completion);
    manager.register_synch(p);
    auto dm = std::make_shared<status_probe>("p", log);
    txn->join(dm);
    txn->commit();
    CHECK(during_before_completion == tpc::status::active);
    CHECK(dm->seen == tpc::status::committing);
}

TEST_CASE("§3.3 step 6: a failing beforeCompletion propagates and leaves the transaction ACTIVE") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    synch->fail_at("before_completion");
    f.manager.register_synch(synch);
    f.join_both();
    CHECK_THROWS(f.txn->commit());
    CHECK(f.txn->state() == tpc::status::active);
    CHECK(f.a->calls("tpc_begin") == 0);
}

TEST_CASE("§3.3 step 7: DMs are stably sorted by sort_key (equal keys keep join order)") {
    zope_fixture f;
    auto x1 = recording_data_manager::make("x1", f.log, "x");
    auto m = recording_data_manager::make("m", f.log, "m");
    auto x2 = recording_data_manager::make("x2", f.log, "x");
    auto x0 = recording_data_manager::make("x0", f.log, "x");
    f.txn->join(x1);
    f.txn->join(m);
    f.txn->join(x2);
    f.txn->join(x0);
    f.txn->commit();
    CHECK(std::vector<std::string>(f.log->begin(), f.log->begin() + 4) ==
          log_t{"m.tpc_begin", "x1.tpc_begin", "x2.tpc_begin", "x0.tpc_begin"});
}

TEST_CASE("§3.3 step 7: the default key \"\" keeps join order") {
    auto log = std::make_shared<call_log>();
    tpc::coordinator core(tpc::facade::tryton);
    auto z = recording_data_manager::make("z", log);
    auto y = recording_data_manager::make("y", log);
    auto x = recording_data_manager::make("x", log);
    core.join(z);
    core.join(y);
    core.join(x);
    core.commit();
    CHECK(std::vector<std::string>(log->begin(), log->begin() + 3) == log_t{"z.tpc_begin", "y.tpc_begin", "x.tpc_begin"});
}

TEST_CASE("§3.3 steps 5, 8–11 (Tryton): buffers flushed, phase 1, main connection committed last, phase 2") {
    tryton_fixture f;
    f.join_both();
    f.core.commit(&f.main);
    CHECK(*f.log == log_t{"main.flush_buffers", "a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.tpc_vote",
                          "b.tpc_vote", "main.commit", "a.tpc_finish", "b.tpc_finish"});
    CHECK(f.core.state() == tpc::status::committed);
    CHECK(f.core.resources().empty());
}

TEST_CASE("§3.3 step 5 happens before beforeCompletion when synchronizers exist") {
    auto log = std::make_shared<call_log>();
    auto synchs = std::make_shared<tpc::synchronizer_set>();
    auto synch = std::make_shared<recording_synchronizer>(log);
    synchs->insert(synch);
    tpc::coordinator core(tpc::facade::tryton, synchs);
    recording_last_resource main(log);
    core.add_before_commit_hook([&] { log->push_back("before-commit hook"); });
    core.commit(&main);
    CHECK(*log == log_t{"before-commit hook", "main.flush_buffers", "beforeCompletion", "main.commit",
                        "afterCompletion"});
}

TEST_CASE("§3.3 step 11: success frees the transaction (detached, no DMs, hooks or data)") {
    zope_fixture f;
    f.join_both();
    int key = 0;
    f.txn->set_data(&key, 5);
    f.txn->add_before_abort_hook([] {});
    f.txn->add_after_abort_hook([] {});
    f.txn->commit();
    CHECK(f.manager.current() == nullptr);
    CHECK(f.txn->manager() == nullptr);
    CHECK(f.txn->resources().empty());
    CHECK(f.txn->before_abort_hooks().empty());
    CHECK(f.txn->after_abort_hooks().empty());
    CHECK_THROWS_AS(f.txn->data(&key), key_error);
    // Every DM cycle is finished: aborting now drives nobody.
    f.log->clear();
    f.txn->abort();
    CHECK(f.log->empty());
}

TEST_CASE("§3.3 step 11: afterCompletion of a successful commit runs with the manager still attached") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    std::shared_ptr<tpc::transaction> current_during;
    tpc::status status_during = tpc::status::active;
    synch->on_after_completion = [&](tpc::coordinator& txn) {
        current_during = f.manager.current();
        status_during = txn.state();
    };
    f.txn->commit();
    CHECK(current_during == f.txn);
    CHECK(status_during == tpc::status::committed);
}

// ---------------------------------------------------------------------------
// §3.3 failure before durability

TEST_CASE("§3.3 failure in phase 1: abort on non-voted DMs, tpc_abort on all, each guarded and logged") {
    zope_fixture f;
    auto c = recording_data_manager::make("c", f.log, "c");
    f.join_both();
    f.txn->join(c);
    f.b->fail_at("tpc_vote");
    c->fail_at("abort");        // c never voted: its abort fails, the clean-up continues
    f.a->fail_at("tpc_abort");  // a voted: only tpc_abort, which fails; b and c still get theirs
    log_capture captured;
    CHECK_THROWS_WITH(f.txn->commit(), "b.tpc_vote failed");
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "c.tpc_begin", "a.commit", "b.commit", "c.commit",
                          "a.tpc_vote", "b.tpc_vote", "b.abort", "c.abort", "a.tpc_abort", "b.tpc_abort",
                          "c.tpc_abort"});
    CHECK(captured.contains(log_level::error, "c.abort failed"));
    CHECK(captured.contains(log_level::error, "a.tpc_abort failed"));
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

TEST_CASE("§3.3 failure path with hooks and a synchronizer: afterCompletion, COMMITFAILED, hooks(false), sweep") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    tpc::status status_in_hook = tpc::status::active;
    f.txn->add_after_commit_hook([&](bool ok) {
        status_in_hook = f.txn->state();
        f.log->push_back(std::string("after-commit hook(") + (ok ? "true" : "false") + ")");
    });
    f.b->fail_at("commit");
    CHECK_THROWS_WITH(f.txn->commit(), "b.commit failed");
    CHECK(*f.log == log_t{"beforeCompletion", "a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.abort",
                          "b.abort", "a.tpc_abort", "b.tpc_abort", "afterCompletion", "after-commit hook(false)",
                          "b.abort", "a.abort"});
    CHECK(status_in_hook == tpc::status::commit_failed);
    CHECK(f.txn->failure_description().find("b.commit failed") != std::string::npos);
}

TEST_CASE("§3.3 failure before durability rethrows the original exception object") {
    zope_fixture f;
    f.txn->join(f.a);
    struct custom_error : std::runtime_error {
        using std::runtime_error::runtime_error;
        int code = 42;
    };
    f.a->fail_at("tpc_begin", std::make_exception_ptr(custom_error("custom")));
    try {
        f.txn->commit();
        FAIL("must throw");
    } catch (const custom_error& e) {
        CHECK(e.code == 42);
    }
}

TEST_CASE("§3.3 a failing last resource: tpc_abort on every DM (all voted), main rolled back, COMMITFAILED") {
    tryton_fixture f;
    f.join_both();
    f.main.fail_at("commit", std::make_exception_ptr(std::runtime_error("could not serialize access")));
    CHECK_THROWS_WITH(f.core.commit(&f.main), "could not serialize access");
    CHECK(*f.log == log_t{"main.flush_buffers", "a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.tpc_vote",
                          "b.tpc_vote", "main.commit", "a.tpc_abort", "b.tpc_abort", "main.rollback"});
    CHECK(f.a->calls("tpc_finish") == 0);
    CHECK(f.core.state() == tpc::status::commit_failed);
    CHECK(f.core.failure_description().find("could not serialize access") != std::string::npos);
}

TEST_CASE("§3.3 Tryton: each DM gets exactly one tpc_abort; a DM failing at vote never gets tpc_finish") {
    tryton_fixture f;
    f.join_both();
    f.a->fail_at("tpc_vote");
    CHECK_THROWS(f.core.commit(&f.main));
    CHECK(f.a->calls("tpc_abort") == 1);
    CHECK(f.b->calls("tpc_abort") == 1);
    CHECK(f.a->calls("tpc_finish") == 0);
    CHECK(f.b->calls("tpc_finish") == 0);
    CHECK(f.log->back() == "main.rollback");
    CHECK(std::count(f.log->begin(), f.log->end(), "main.commit") == 0);
}

TEST_CASE("§3.4 Tryton: a failed commit empties the DM list (already rolled back); Zope keeps it for abort()") {
    SUBCASE("tryton") {
        tryton_fixture f;
        f.join_both();
        f.b->fail_at("tpc_begin");
        CHECK_THROWS(f.core.commit(&f.main));
        CHECK(f.core.resources().empty());
        // A later rollback (stop(false)) does not drive the DMs again.
        f.log->clear();
        f.core.rollback_tryton(&f.main);
        CHECK(*f.log == log_t{"main.rollback"});
        CHECK(f.core.state() == tpc::status::active);
    }
    SUBCASE("zope") {
        zope_fixture f;
        f.join_both();
        f.b->fail_at("tpc_begin");
        CHECK_THROWS(f.txn->commit());
        CHECK(f.txn->resources().size() == 2);
        CHECK(f.manager.current() == f.txn);  // still current until aborted
        f.log->clear();
        f.txn->abort();
        CHECK(*f.log == log_t{"b.abort", "a.abort"});  // join order
        CHECK(f.manager.current() == nullptr);
        CHECK(f.txn->state() == tpc::status::commit_failed);  // abort does not change the status
    }
}

TEST_CASE("§3.3 a failing sort_key is a phase-1 failure: clean-up in join order") {
    class bad_key final : public recording_data_manager {
    public:
        using recording_data_manager::recording_data_manager;
        std::string sort_key() const override { throw std::runtime_error("no key"); }
    };
    zope_fixture f;
    auto bad = std::make_shared<bad_key>("k", f.log);
    f.txn->join(f.b);
    f.txn->join(bad);
    CHECK_THROWS_WITH(f.txn->commit(), "no key");
    CHECK(*f.log == log_t{"b.abort", "k.abort", "b.tpc_abort", "k.tpc_abort"});
    CHECK(f.txn->state() == tpc::status::commit_failed);
}

// ---------------------------------------------------------------------------
// §3.3 failure in phase 2 (tpc_finish)

TEST_CASE("§3.3 tpc_finish failure (Zope): critical log, others finished, COMMITTED, hooks(true), then heuristic error") {
    zope_fixture f;
    auto c = recording_data_manager::make("c", f.log, "c");
    f.join_both();
    f.txn->join(c);
    f.a->fail_at("tpc_finish");
    bool hook_ok = false;
    f.txn->add_after_commit_hook([&](bool ok) {
        hook_ok = ok;
        f.log->push_back("after-commit hook");
    });
    log_capture captured;
    CHECK_THROWS_AS(f.txn->commit(), heuristic_commit_error);
    CHECK(*f.log == log_t{"a.tpc_begin", "b.tpc_begin", "c.tpc_begin", "a.commit", "b.commit", "c.commit",
                          "a.tpc_vote", "b.tpc_vote", "c.tpc_vote", "a.tpc_finish", "b.tpc_finish", "c.tpc_finish",
                          "after-commit hook", "b.abort", "a.abort", "c.abort"});
    CHECK(f.a->calls("tpc_abort") == 0);  // nothing is rolled back
    CHECK(captured.count(log_level::critical) == 1);
    CHECK(captured.contains(log_level::critical, "a.tpc_finish failed"));
    CHECK(hook_ok);
    CHECK(f.txn->state() == tpc::status::committed);
    CHECK(f.manager.current() == nullptr);  // freed
}

TEST_CASE("§3.3 tpc_finish failure (Tryton): logged critically, not thrown, main not rolled back, COMMITTED") {
    tryton_fixture f;
    f.join_both();
    f.a->fail_at("tpc_finish");
    log_capture captured;
    CHECK_NOTHROW(f.core.commit(&f.main));
    CHECK(*f.log == log_t{"main.flush_buffers", "a.tpc_begin", "b.tpc_begin", "a.commit", "b.commit", "a.tpc_vote",
                          "b.tpc_vote", "main.commit", "a.tpc_finish", "b.tpc_finish"});
    CHECK(captured.contains(log_level::critical, "a.tpc_finish failed"));
    CHECK(f.core.state() == tpc::status::committed);
    CHECK(f.core.resources().empty());
}

// ---------------------------------------------------------------------------
// §3.3 post-hook sweep

TEST_CASE("§3.3 post-hook sweep: no after-commit hooks, no sweep") {
    zope_fixture f;
    f.join_both();
    f.txn->commit();
    CHECK(f.a->calls("abort") == 0);
    CHECK(f.b->calls("abort") == 0);
}

TEST_CASE("§3.3 post-hook sweep: a failing sweep abort is logged and the sweep continues") {
    zope_fixture f;
    f.join_both();
    f.b->fail_at("abort");
    f.txn->add_after_commit_hook([](bool) {});
    log_capture captured;
    CHECK_NOTHROW(f.txn->commit());
    CHECK(f.a->calls("abort") == 1);
    CHECK(captured.contains(log_level::error, "b.abort failed"));
}

// ---------------------------------------------------------------------------
// §3.4 Zope abort

TEST_CASE("§3.4 Zope abort: hooks, synchronizers and DMs in the documented order; join order, no sorting") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    std::shared_ptr<tpc::transaction> current_in_after_completion = f.txn;
    synch->on_after_completion = [&](tpc::coordinator&) { current_in_after_completion = f.manager.current(); };
    f.txn->add_before_abort_hook([&] { f.log->push_back("before-abort hook"); });
    f.txn->add_after_abort_hook([&] { f.log->push_back("after-abort hook"); });
    int commit_hooks = 0;
    f.txn->add_before_commit_hook([&] { ++commit_hooks; });
    f.txn->add_after_commit_hook([&](bool) { ++commit_hooks; });
    f.txn->abort();
    CHECK(*f.log == log_t{"before-abort hook", "beforeCompletion", "b.abort", "a.abort", "after-abort hook", "b.abort",
                          "a.abort", "afterCompletion"});
    CHECK(current_in_after_completion == nullptr);  // detached before afterCompletion
    CHECK(commit_hooks == 0);                       // commit hooks discarded, not run
    CHECK(f.txn->before_commit_hooks().empty());
    CHECK(f.txn->after_commit_hooks().empty());
    CHECK(f.txn->resources().empty());
    CHECK(f.txn->state() == tpc::status::active);  // abort does not change the status
}

TEST_CASE("§3.4 Zope abort: without after-abort hooks there is no sweep") {
    zope_fixture f;
    f.join_both();
    f.txn->abort();
    CHECK(*f.log == log_t{"b.abort", "a.abort"});
}

TEST_CASE("§3.4 Zope abort: before-abort hook errors are logged and the abort continues") {
    zope_fixture f;
    f.join_both();
    bool second = false;
    f.txn->add_before_abort_hook([] { throw std::runtime_error("before-abort boom"); });
    f.txn->add_before_abort_hook([&] { second = true; });
    log_capture captured;
    CHECK_NOTHROW(f.txn->abort());
    CHECK(second);
    CHECK(f.a->calls("abort") == 1);
    CHECK(captured.contains(log_level::error, "before-abort boom"));
}

TEST_CASE("§3.4 Zope abort: a beforeCompletion error is remembered, logged, and rethrown after everything") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    synch->fail_at("before_completion", std::make_exception_ptr(std::runtime_error("sync boom")));
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    log_capture captured;
    CHECK_THROWS_WITH(f.txn->abort(), "sync boom");
    CHECK(*f.log == log_t{"beforeCompletion", "b.abort", "a.abort", "afterCompletion"});
    CHECK(captured.contains(log_level::error, "sync boom"));
    CHECK(f.manager.current() == nullptr);
    CHECK(f.txn->resources().empty());
}

TEST_CASE("§3.4 Zope abort: DM abort errors are guarded; the first one is rethrown at the end") {
    zope_fixture f;
    auto c = recording_data_manager::make("c", f.log, "c");
    f.join_both();
    f.txn->join(c);
    f.b->fail_at("abort", std::make_exception_ptr(std::runtime_error("first")));
    f.a->fail_at("abort", std::make_exception_ptr(std::runtime_error("second")));
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    CHECK_THROWS_WITH(f.txn->abort(), "first");
    CHECK(*f.log == log_t{"beforeCompletion", "b.abort", "a.abort", "c.abort", "afterCompletion"});
    CHECK(f.manager.current() == nullptr);
}

TEST_CASE("§3.4 Zope abort: the first after-abort hook error propagates and skips the remaining hooks") {
    zope_fixture f;
    f.join_both();
    bool second = false;
    f.txn->add_after_abort_hook([] { throw std::runtime_error("after-abort boom"); });
    f.txn->add_after_abort_hook([&] { second = true; });
    CHECK_THROWS_WITH(f.txn->abort(), "after-abort boom");
    CHECK_FALSE(second);
    CHECK(*f.log == log_t{"b.abort", "a.abort", "b.abort", "a.abort"});  // the sweep still ran
    CHECK(f.manager.current() == nullptr);                               // freed anyway
    CHECK(f.txn->after_abort_hooks().empty());
}

TEST_CASE("§3.4/§3.6 a failing afterCompletion during abort does not prevent freeing") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    synch->fail_at("after_completion", std::make_exception_ptr(std::runtime_error("after boom")));
    f.manager.register_synch(synch);
    f.join_both();
    int key = 0;
    f.txn->set_data(&key, std::string("side"));
    CHECK_THROWS_WITH(f.txn->abort(), "after boom");
    CHECK(f.manager.current() == nullptr);
    CHECK(f.txn->manager() == nullptr);
    CHECK(f.txn->resources().empty());
    CHECK_FALSE(f.txn->has_data(&key));
    // The manager is usable again.
    auto next = f.manager.begin();
    CHECK(next != f.txn);
}

TEST_CASE("§3.4 a second abort() is a no-op") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.join_both();
    f.txn->abort();
    f.log->clear();
    f.txn->abort();
    CHECK(f.log->empty());
}

TEST_CASE("§3.4 abort hooks are discarded by a successful commit; a failed commit keeps them for abort()") {
    SUBCASE("success discards") {
        zope_fixture f;
        int ran = 0;
        f.txn->add_before_abort_hook([&] { ++ran; });
        f.txn->add_after_abort_hook([&] { ++ran; });
        f.txn->commit();
        CHECK(f.txn->before_abort_hooks().empty());
        CHECK(f.txn->after_abort_hooks().empty());
        f.txn->abort();
        CHECK(ran == 0);
    }
    SUBCASE("failure keeps") {
        zope_fixture f;
        f.join_both();
        f.a->fail_at("tpc_vote");
        int ran = 0;
        f.txn->add_before_abort_hook([&] { ++ran; });
        f.txn->add_after_abort_hook([&] { ++ran; });
        CHECK_THROWS(f.txn->commit());
        CHECK(f.txn->before_abort_hooks().size() == 1);
        CHECK(f.txn->after_abort_hooks().size() == 1);
        f.txn->abort();
        CHECK(ran == 2);
    }
}

// ---------------------------------------------------------------------------
// §3.4 Tryton rollback

TEST_CASE("§3.4 Tryton rollback: tpc_abort on each DM in join order, guarded and logged, then the main rollback") {
    tryton_fixture f;
    auto c = recording_data_manager::make("c", f.log, "0");  // sorts first, but rollback uses join order
    f.join_both();
    f.core.join(c);
    f.b->fail_at("tpc_abort");
    log_capture captured;
    CHECK_NOTHROW(f.core.rollback_tryton(&f.main));
    CHECK(*f.log == log_t{"b.tpc_abort", "a.tpc_abort", "c.tpc_abort", "main.rollback"});
    CHECK(captured.contains(log_level::error, "b.tpc_abort failed"));
    CHECK(f.core.resources().empty());
    CHECK(f.core.state() == tpc::status::active);
}

TEST_CASE("§3.4 every terminal call empties the DM list: no DM is driven twice") {
    SUBCASE("explicit commit, then the scope's commit (Tryton dispatcher)") {
        tryton_fixture f;
        f.join_both();
        f.core.commit(&f.main);
        f.log->clear();
        f.core.commit(&f.main);  // stop(true): only the (empty) DB transaction ends
        CHECK(*f.log == log_t{"main.flush_buffers", "main.commit"});
    }
    SUBCASE("rollback, then continue and commit") {
        tryton_fixture f;
        f.join_both();
        f.core.rollback_tryton(&f.main);
        f.log->clear();
        f.core.commit(&f.main);
        CHECK(*f.log == log_t{"main.flush_buffers", "main.commit"});
    }
    SUBCASE("a DM that is needed again re-joins and runs one full cycle") {
        tryton_fixture f;
        f.join_both();
        f.core.commit(&f.main);
        f.log->clear();
        f.core.join(f.a);  // a committed Tryton core starts its next cycle
        CHECK(f.core.state() == tpc::status::active);
        f.core.commit(&f.main);
        CHECK(*f.log == log_t{"main.flush_buffers", "a.tpc_begin", "a.commit", "a.tpc_vote", "main.commit",
                              "a.tpc_finish"});
    }
    SUBCASE("Zope: commit twice drives the DMs once") {
        zope_fixture f;
        f.join_both();
        f.txn->commit();
        f.txn->commit();
        CHECK(f.a->calls("tpc_begin") == 1);
    }
}

TEST_CASE("§3.4 Tryton rollback: before-abort hooks run, commit hooks are discarded, after-abort hooks sweep") {
    tryton_fixture f;
    f.join_both();
    int commit_hooks = 0;
    f.core.add_before_commit_hook([&] { ++commit_hooks; });
    f.core.add_before_abort_hook([&] { f.log->push_back("before-abort hook"); });
    f.core.add_after_abort_hook([&] { f.log->push_back("after-abort hook"); });
    f.core.rollback_tryton(&f.main);
    CHECK(*f.log == log_t{"before-abort hook", "b.tpc_abort", "a.tpc_abort", "main.rollback", "after-abort hook",
                          "b.abort", "a.abort"});
    CHECK(f.core.before_commit_hooks().empty());
    f.core.commit(&f.main);
    CHECK(commit_hooks == 0);
}

TEST_CASE("§3.4 Tryton rollback after COMMITFAILED gets out of the failed state") {
    tryton_fixture f;
    f.join_both();
    f.a->fail_at("commit");
    CHECK_THROWS(f.core.commit(&f.main));
    REQUIRE(f.core.state() == tpc::status::commit_failed);
    f.core.rollback_tryton(&f.main);
    CHECK(f.core.state() == tpc::status::active);
    CHECK(f.core.failure_description().empty());
}

TEST_CASE("§3.4 reset() returns the core to a fresh ACTIVE state without calling anybody") {
    tryton_fixture f;
    f.join_both();
    f.core.add_before_commit_hook([] {});
    f.core.add_after_abort_hook([] {});
    f.core.doom();
    f.core.reset();
    CHECK(f.log->empty());
    CHECK(f.core.state() == tpc::status::active);
    CHECK(f.core.resources().empty());
    CHECK(f.core.before_commit_hooks().empty());
    CHECK(f.core.after_abort_hooks().empty());
}

// ---------------------------------------------------------------------------
// §3.5 hooks

TEST_CASE("§3.5 hook getters return the registered hooks in order; bound arguments are passed") {
    tpc::coordinator core(tpc::facade::zope);
    std::vector<std::string> calls;
    auto record = [&](const std::string& what) { calls.push_back(what); };
    core.add_before_commit_hook(record, std::string("bc1"));
    core.add_before_commit_hook([&] { calls.push_back("bc2"); });
    core.add_after_commit_hook([&](bool ok, const std::string& tag, int n) {
        calls.push_back(tag + (ok ? "+" : "-") + std::to_string(n));
    }, std::string("ac"), 7);
    core.add_before_abort_hook(record, std::string("ba"));
    core.add_after_abort_hook(record, std::string("aa"));
    REQUIRE(core.before_commit_hooks().size() == 2);
    REQUIRE(core.after_commit_hooks().size() == 1);
    REQUIRE(core.before_abort_hooks().size() == 1);
    REQUIRE(core.after_abort_hooks().size() == 1);
    core.before_commit_hooks()[0]();
    core.before_commit_hooks()[1]();
    core.after_commit_hooks()[0](true);
    CHECK(calls == log_t{"bc1", "bc2", "ac+7"});
    calls.clear();
    core.commit();
    CHECK(calls == log_t{"bc1", "bc2", "ac+7"});
    CHECK(core.before_commit_hooks().empty());  // running consumes them
    CHECK(core.after_commit_hooks().empty());
}

TEST_CASE("§3.5 hooks registered while hooks run also run in the same pass") {
    SUBCASE("commit hooks") {
        tpc::coordinator core(tpc::facade::zope);
        std::vector<std::string> calls;
        core.add_before_commit_hook([&] {
            calls.push_back("bc1");
            core.add_before_commit_hook([&] { calls.push_back("bc-late"); });
        });
        core.add_before_commit_hook([&] { calls.push_back("bc2"); });
        core.add_after_commit_hook([&](bool) {
            calls.push_back("ac1");
            core.add_after_commit_hook([&](bool) { calls.push_back("ac-late"); });
        });
        core.commit();
        CHECK(calls == log_t{"bc1", "bc2", "bc-late", "ac1", "ac-late"});
        CHECK(core.after_commit_hooks().empty());
    }
    SUBCASE("abort hooks") {
        tpc::coordinator core(tpc::facade::zope);
        std::vector<std::string> calls;
        core.add_before_abort_hook([&] {
            calls.push_back("ba1");
            core.add_before_abort_hook([&] { calls.push_back("ba-late"); });
        });
        core.add_after_abort_hook([&] {
            calls.push_back("aa1");
            core.add_after_abort_hook([&] { calls.push_back("aa-late"); });
        });
        core.abort();
        CHECK(calls == log_t{"ba1", "ba-late", "aa1", "aa-late"});
    }
}

TEST_CASE("§3.5 after-commit hook errors are logged and the remaining hooks still run") {
    tpc::coordinator core(tpc::facade::zope);
    int ran = 0;
    core.add_after_commit_hook([](bool) { throw std::runtime_error("after-commit boom"); });
    core.add_after_commit_hook([&](bool) { ++ran; });
    log_capture captured;
    CHECK_NOTHROW(core.commit());
    CHECK(ran == 1);
    CHECK(captured.contains(log_level::error, "after-commit boom"));
    CHECK(core.state() == tpc::status::committed);
}

TEST_CASE("§3.5 savepoints never run hooks") {
    auto log = std::make_shared<call_log>();
    tpc::coordinator core(tpc::facade::zope);
    auto dm = recording_data_manager::make("a", log);
    dm->enable_savepoints();
    core.join(dm);
    int ran = 0;
    core.add_before_commit_hook([&] { ++ran; });
    core.add_after_commit_hook([&](bool) { ++ran; });
    core.add_before_abort_hook([&] { ++ran; });
    core.add_after_abort_hook([&] { ++ran; });
    auto sp = core.savepoint();
    sp.rollback();
    CHECK(ran == 0);
    CHECK(core.before_commit_hooks().size() == 1);
    CHECK(core.after_abort_hooks().size() == 1);
}

// ---------------------------------------------------------------------------
// §3.6 synchronizers (core level; manager-level registration in manager_test)

TEST_CASE("§3.6 synchronizer_set holds synchronizers weakly, in registration order, once each") {
    tpc::synchronizer_set set;
    auto log = std::make_shared<call_log>();
    auto s1 = std::make_shared<recording_synchronizer>(log, "s1.");
    auto s2 = std::make_shared<recording_synchronizer>(log, "s2.");
    set.insert(s1);
    set.insert(s2);
    set.insert(s1);
    CHECK(set.size() == 2);
    auto live = set.snapshot();
    REQUIRE(live.size() == 2);
    CHECK(live[0] == s1);
    CHECK(live[1] == s2);
    live.clear();
    s1.reset();  // weakly held: it disappears
    CHECK(set.size() == 1);
    CHECK(set.any());
    set.erase(s2);
    CHECK_FALSE(set.any());
    set.insert(s2);
    set.clear();
    CHECK(set.size() == 0);
}

TEST_CASE("§3.6 afterCompletion is called from the clean-up path of a failed commit") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    tpc::status seen = tpc::status::active;
    synch->on_after_completion = [&](tpc::coordinator& txn) { seen = txn.state(); };
    f.join_both();
    f.a->fail_at("tpc_begin");
    f.log->clear();
    CHECK_THROWS(f.txn->commit());
    CHECK(std::count(f.log->begin(), f.log->end(), "afterCompletion") == 1);
    CHECK(seen == tpc::status::committing);  // before the status becomes COMMITFAILED
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

// ---------------------------------------------------------------------------
// logging facade

TEST_CASE("logging facade: levels, sink capture and restore, exception descriptions") {
    CHECK(to_string(log_level::critical) == "CRITICAL");
    CHECK(to_string(log_level::info) == "INFO");
    {
        log_capture captured;
        log_critical("c");
        log_error("e");
        log_warning("w");
        log_info("i");
        REQUIRE(captured.entries().size() == 4);
        CHECK(captured.entries()[0].level == log_level::critical);
        CHECK(captured.entries()[3].message == "i");
        {
            log_capture inner;
            log_error("inner only");
            CHECK(inner.count(log_level::error) == 1);
        }
        log_error("outer again");
        CHECK(captured.contains(log_level::error, "outer again"));
        CHECK_FALSE(captured.contains(log_level::error, "inner only"));
    }
    CHECK(describe_exception(std::make_exception_ptr(value_error("bad"))) == "atrium::value_error: bad");
    CHECK(describe_exception(std::make_exception_ptr(42)).find("unknown exception") != std::string::npos);
    CHECK_FALSE(fiber::is_unwinding(std::make_exception_ptr(std::runtime_error("x"))));
    log_capture captured;
    auto error = call_guarded(log_level::warning, "doing things", [] { throw std::runtime_error("oops"); });
    CHECK(error != nullptr);
    CHECK(captured.contains(log_level::warning, "doing things: std::runtime_error: oops"));
    CHECK(call_guarded(log_level::warning, "fine", [] {}) == nullptr);
}

// ---------------------------------------------------------------------------
// forced_unwind (a fiber being destroyed) is never swallowed by a failure path

namespace {

/// True if `fn` throws the exception that unwinds a fiber being destroyed.
template <class Fn>
bool throws_unwinding(Fn&& fn) {
    try {
        fn();
    } catch (...) {
        return fiber::is_unwinding(std::current_exception());
    }
    return false;
}

}  // namespace

TEST_CASE("§3.3/§3.4/§3.8 boost::context forced_unwind passes through guarded failure paths") {
    const auto unwind = fiber::make_unwinding_exception();
    CHECK(fiber::is_unwinding(unwind));
    CHECK(throws_unwinding([&] { call_guarded(log_level::error, "x", [&] { std::rethrow_exception(unwind); }); }));

    SUBCASE("commit: rethrown at once, no clean-up is attempted") {
        zope_fixture f;
        f.join_both();
        f.b->fail_at("tpc_vote", unwind);
        CHECK(throws_unwinding([&] { f.txn->commit(); }));
        CHECK(f.log->back() == "b.tpc_vote");
    }
    SUBCASE("abort: rethrown from the guarded DM call; the transaction is still freed") {
        zope_fixture f;
        f.join_both();
        f.b->fail_at("abort", unwind);
        CHECK(throws_unwinding([&] { f.txn->abort(); }));
        CHECK(*f.log == log_t{"b.abort"});
        CHECK(f.manager.current() == nullptr);
    }
    SUBCASE("run/attempts: never retried, even when a DM would retry anything") {
        auto log = std::make_shared<call_log>();
        tpc::transaction_manager manager;
        auto dm = recording_data_manager::make("a", log);
        dm->set_should_retry([](const std::exception_ptr&) { return true; });
        int calls = 0;
        auto body = [&](tpc::transaction& txn) {
            txn.join(dm);
            ++calls;
            std::rethrow_exception(unwind);
        };
        CHECK(throws_unwinding([&] { tpc::run(manager, body, 3); }));
        CHECK(calls == 1);
        CHECK(throws_unwinding([&] { tpc::with_attempts(manager, 3, body); }));
        CHECK(calls == 2);
    }
}
