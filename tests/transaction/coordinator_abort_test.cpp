// SPEC §3.4: Zope abort and Tryton rollback of the two-phase-commit core
// (fixtures: coordinator_fixtures.hpp).

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
// §3.4 Zope abort

TEST_CASE("§3.4 Zope abort: hooks, synchronizers and DMs in the documented order; join order, no sorting") {
    zope_fixture f;
    auto synch = std::make_shared<recording_synchronizer>(f.log);
    f.manager.register_synch(synch);
    f.log->clear();
    f.join_both();
    std::shared_ptr<tpc::zope_transaction> current_in_after_completion = f.txn;
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
