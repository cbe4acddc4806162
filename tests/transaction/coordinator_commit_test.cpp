// SPEC §3.3: commit of the two-phase-commit core through both facades —
// reference traces, the steps, failures before and after durability, the
// post-hook sweep (fixtures: coordinator_fixtures.hpp).

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
    std::shared_ptr<tpc::zope_transaction> current_during;
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
