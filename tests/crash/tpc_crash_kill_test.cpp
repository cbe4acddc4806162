// Crash safety of two-phase commit (issue 6, SPEC §5.3): a helper process
// (tpc_crash_helper.cpp) runs one Tryton transaction over the main database,
// two participant PostgreSQL databases, the mail outbox and a file, and is
// killed with SIGKILL at each point of the commit in turn. Then recovery runs
// and every run must be all-or-nothing, agree with the main database, leave no
// prepared transaction and nothing staged, and a second pass has nothing to do.
//
// The main database is SQLite (a temporary directory) in one set of cases and
// PostgreSQL (a database on the shared test cluster) in another. The
// participants live on the shared cluster, except in the cases where their
// server is restarted or stopped between vote and finish (a dedicated cluster).
// Also: `atrium-admin --recover` and atriumd's start-up pass on a leftover crash.
//
// This file: the kill matrix, a stopped coordinator, and the participants'
// server going away between vote and finish (shared set-up: crash_setup.hpp).

#include "tests/crash/crash_setup.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace atrium;
namespace fs = std::filesystem;
using atrium::test::temp_dir;
using namespace atrium::test::crash;

namespace {

struct kill_expectation {
    const char* point;
    bool main_committed;        // the main database's decision
    bool p1_prepared_before;    // in doubt before recovery
    bool p2_prepared_before;
    bool file_staged_before;    // voted, not finished
    bool mail_staged_before;
    int committed_by_recovery;
    int rolled_back_by_recovery;
};

// Sorted participant ids: "files:/…" < "mail:/…" < ".../<stem>_p1" < ".../<stem>_p2".
const kill_expectation kill_points[] = {
    // kill point                   main   p1     p2     file   mail   commit rollback
    {"after-file-vote",             false, false, false, true,  false, 0, 1},
    {"after-first-prepare",         false, true,  false, true,  true,  0, 3},  // files, mail, p1 voted
    {"after-all-votes",             false, true,  true,  true,  true,  0, 4},
    {"after-main-commit",           true,  true,  true,  true,  true,  4, 0},
    {"after-mail-finish",           true,  true,  true,  false, false, 2, 0},
    {"after-first-commit-prepared", true,  false, true,  false, false, 1, 0},  // files, mail, p1 finished
};

void check_kill_point(main_kind kind, const kill_expectation& e) {
    CAPTURE(e.point);
    crash_setup s(kind, atrium::test::pg_dsn());
    const auto helper = s.run_helper(e.point);
    INFO("helper output:\n" << helper.output);
    REQUIRE(helper.signaled);
    REQUIRE(helper.signal == SIGKILL);

    // The kill happened where it should: the state in doubt.
    CHECK(s.main_row() == e.main_committed);
    const auto gids1 = s.prepared(s.p1_name);
    const auto gids2 = s.prepared(s.p2_name);
    CHECK(gids1.size() == (e.p1_prepared_before ? 1u : 0u));
    CHECK(gids2.size() == (e.p2_prepared_before ? 1u : 0u));
    CHECK(s.p1_row() == (e.main_committed && !e.p1_prepared_before));
    CHECK_FALSE(s.p2_row());
    CHECK((s.mails_staged() > 0) == e.mail_staged_before);
    CHECK(s.mails_delivered() == (e.main_committed && !e.mail_staged_before ? 1u : 0u));
    CHECK(s.manifests() == (e.file_staged_before ? 1u : 0u));
    CHECK((s.target_temporaries() > 0) == e.file_staged_before);
    CHECK(s.target_written() == (e.main_committed && !e.file_staged_before));

    const auto report = s.recover();
    CHECK(report.committed == e.committed_by_recovery);
    CHECK(report.rolled_back == e.rolled_back_by_recovery);
    CHECK(report.failed == 0);

    // All-or-nothing, and the outcome is the main database's.
    s.check_final(e.main_committed);
    for (const auto& gid : gids1) CHECK(tpc::decisions::lookup(*s.main, gid) == (e.main_committed ? tpc::outcome::commit : tpc::outcome::abort));
    for (const auto& gid : gids2) CHECK(tpc::decisions::lookup(*s.main, gid) == (e.main_committed ? tpc::outcome::commit : tpc::outcome::abort));

    // A second pass has nothing to do and changes nothing.
    const auto again = s.recover();
    CHECK(again.committed == 0);
    CHECK(again.rolled_back == 0);
    CHECK(again.failed == 0);
    s.check_final(e.main_committed);
}

void check_no_crash(main_kind kind) {
    crash_setup s(kind, atrium::test::pg_dsn());
    const auto helper = s.run_helper("none");
    INFO("helper output:\n" << helper.output);
    REQUIRE_FALSE(helper.signaled);
    REQUIRE(helper.exit_code == 0);
    s.check_final(true);
    const auto report = s.recover();
    CHECK(report.committed == 0);
    CHECK(report.rolled_back == 0);
    CHECK(report.failed == 0);
    s.check_final(true);
}

void check_all_kill_points(main_kind kind) {
    for (const auto& e : kill_points) {
        SUBCASE(e.point) { check_kill_point(kind, e); }
    }
}

}  // namespace

// --- the kill matrix ------------------------------------------------------

TEST_CASE("crash: a normal run commits everything (main database on SQLite)") { check_no_crash(main_kind::sqlite); }
TEST_CASE("crash: a normal run commits everything (main database on PostgreSQL)") {
    check_no_crash(main_kind::postgresql);
}

TEST_CASE("crash: SIGKILL at each point, then recovery — main database on SQLite") {
    check_all_kill_points(main_kind::sqlite);
}
TEST_CASE("crash: SIGKILL at each point, then recovery — main database on PostgreSQL") {
    check_all_kill_points(main_kind::postgresql);
}

// --- a coordinator that is merely slow --------------------------------------

TEST_CASE("crash: recovery against a stopped (slow, not dead) coordinator after all votes — PostgreSQL main") {
    // Recovery's abort marker wins the race on the decision key; the coordinator,
    // resumed, must fail its main commit and abort everything.
    crash_setup s(main_kind::postgresql, atrium::test::pg_dsn());
    const auto log = s.next_log();
    const pid_t pid = spawn_process(s.helper_argv("pause-after-all-votes"), log);
    process_result helper;
    const bool stopped = wait_process(pid, helper, log, true);
    INFO("helper output:\n" << helper.output);
    REQUIRE(stopped);
    CHECK(s.prepared(s.p1_name).size() == 1);
    CHECK(s.prepared(s.p2_name).size() == 1);
    const auto report = s.recover();
    CHECK(report.rolled_back == 4);
    CHECK(report.committed == 0);
    CHECK(report.failed == 0);
    REQUIRE(::kill(pid, SIGCONT) == 0);
    CHECK_FALSE(wait_process(pid, helper, log));
    INFO("helper output after SIGCONT:\n" << helper.output);
    CHECK_FALSE(helper.signaled);
    CHECK(helper.exit_code == 1);  // its commit failed: recovery decided first
    s.check_final(false);
    const auto again = s.recover();
    CHECK(again.committed + again.rolled_back + again.failed == 0);
    s.check_final(false);
}

TEST_CASE("crash: recovery against a stopped (slow, not dead) coordinator after all votes — SQLite main") {
    // The coordinator holds SQLite's write lock: recovery cannot decide and
    // must not roll anything back; the resumed coordinator commits everything.
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    s.main_backend = db::open_backend(s.main_uri + "?busy_wait_ms=300");
    s.main = s.main_backend->open(s.main_name);
    const auto log = s.next_log();
    const pid_t pid = spawn_process(s.helper_argv("pause-after-all-votes"), log);
    process_result helper;
    const bool stopped = wait_process(pid, helper, log, true);
    INFO("helper output:\n" << helper.output);
    REQUIRE(stopped);
    try {
        const auto report = s.recover();
        CHECK(report.rolled_back == 0);
        CHECK(report.committed == 0);
        MESSAGE("recovery while the coordinator holds the lock: failed " << report.failed);
    } catch (const std::exception& e) {
        MESSAGE("recovery while the coordinator holds the lock: " << std::string(e.what()));
    }
    REQUIRE(::kill(pid, SIGCONT) == 0);
    CHECK_FALSE(wait_process(pid, helper, log));
    INFO("helper output after SIGCONT:\n" << helper.output);
    CHECK(helper.exit_code == 0);
    s.check_final(true);
    const auto again = s.recover();
    CHECK(again.committed + again.rolled_back + again.failed == 0);
    s.check_final(true);
}

// --- the participants' server goes away between vote and finish -----------

TEST_CASE("crash: the participants' server restarted between vote and finish; recovery completes the commit") {
    auto cluster = atrium::test::pg_cluster::start();
    crash_setup s(main_kind::sqlite, cluster.dsn());
    const auto helper = s.run_helper("restart-participants=" + cluster.dir().string());
    INFO("helper output:\n" << helper.output);
    REQUIRE_FALSE(helper.signaled);
    REQUIRE(helper.exit_code == 0);  // the Tryton facade logs a failed finish; the commit returns
    // The participants' connections were really broken at COMMIT PREPARED (the
    // data manager logs the lost connection before its retry).
    CHECK(helper.output.find("COMMIT PREPARED") != std::string::npos);
    CHECK(s.main_row());
    // Each participant's COMMIT PREPARED either went through its one retry on a
    // fresh connection or left the branch prepared: recovery finishes the rest.
    const auto still_prepared = s.prepared(s.p1_name).size() + s.prepared(s.p2_name).size();
    MESSAGE("prepared after the restart: " << still_prepared);
    const auto report = s.recover();
    CHECK(report.committed == static_cast<int>(still_prepared));
    CHECK(report.rolled_back == 0);
    CHECK(report.failed == 0);
    s.check_final(true);
    CHECK(s.recover().committed == 0);
}

TEST_CASE("crash: the participants' server down during finish; recovery commits the prepared branches") {
    auto cluster = atrium::test::pg_cluster::start();
    crash_setup s(main_kind::sqlite, cluster.dsn());
    const auto helper = s.run_helper("stop-participants=" + cluster.dir().string());
    INFO("helper output:\n" << helper.output);
    REQUIRE_FALSE(helper.signaled);
    REQUIRE(helper.exit_code == 0);
    CHECK(s.main_row());
    // Files and mail finished; the database branches could not.
    CHECK(s.mails_delivered() == 1);
    CHECK(s.target_written());
    atrium::test::crash::pg_ctl(cluster.dir(), {"start"});
    CHECK(s.prepared(s.p1_name).size() == 1);
    CHECK(s.prepared(s.p2_name).size() == 1);
    CHECK_FALSE(s.p1_row());
    CHECK_FALSE(s.p2_row());
    const auto report = s.recover();
    CHECK(report.committed == 2);
    CHECK(report.rolled_back == 0);
    CHECK(report.failed == 0);
    s.check_final(true);
    CHECK(s.recover().committed == 0);
}
