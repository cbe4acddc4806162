// SPEC §3.5, §3.6: commit and abort hooks and synchronizers of the
// two-phase-commit core (fixtures: coordinator_fixtures.hpp).

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
