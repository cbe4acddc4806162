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

#include "database/database.hpp"
#include "participants/pg_participant_store.hpp"
#include "server/config.hpp"
#include "tests/crash/pg_ctl.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "participants/file_manager.hpp"
#include "participants/mail_outbox.hpp"
#include "transaction/recovery.hpp"
#include "transaction/tpc_identity.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ATRIUM_TPC_CRASH_HELPER
#error "ATRIUM_TPC_CRASH_HELPER must name the helper executable"
#endif

using namespace atrium;
namespace fs = std::filesystem;
using atrium::test::temp_dir;

namespace {

enum class main_kind { sqlite, postgresql };

/// How a child process ended, and what it printed (stdout and stderr).
struct process_result {
    bool signaled = false;
    int signal = 0;
    int exit_code = -1;
    std::string output;
};

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// fork + exec of `argv` (environment inherited), output to `log`; returns the pid.
pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& log) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

/// Waits until `pid` ends (or, with `until_stopped`, stops itself): true if it stopped.
bool wait_process(pid_t pid, process_result& result, const fs::path& log, bool until_stopped = false) {
    int status = 0;
    while (::waitpid(pid, &status, until_stopped ? WUNTRACED : 0) < 0) {
        REQUIRE(errno == EINTR);
    }
    result.output = read_text(log);
    if (WIFSTOPPED(status)) return true;
    result.signaled = WIFSIGNALED(status);
    if (result.signaled) result.signal = WTERMSIG(status);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    return false;
}

process_result run_process(const std::vector<std::string>& argv, const fs::path& log) {
    process_result result;
    wait_process(spawn_process(argv, log), result, log);
    return result;
}

std::string unique_stem() {
    static std::atomic<int> counter{0};
    return "crash_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

std::int64_t count_of(db::database& database, const std::string& sql, const std::vector<db::value>& params = {}) {
    auto conn = database.acquire();
    db::begin_options read_only;
    read_only.readonly = true;
    conn->begin(read_only);
    const auto rows = conn->execute(sql, params);
    conn->commit();
    conn.return_to_pool();
    REQUIRE(rows.size() == 1);
    return std::get<std::int64_t>(rows.rows.front().front());
}

void run_statement(db::database& database, const std::string& sql) {
    auto conn = database.acquire();
    conn->begin({});
    conn->execute(sql);
    conn->commit();
    conn.return_to_pool();
}

std::size_t files_in(const fs::path& dir) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
}

/// Everything one crash run touches: the main database, two participant
/// databases, a maildir, a staging directory and the target file's directory.
struct crash_setup {
    temp_dir dir{"atrium-crash-"};
    main_kind kind;
    std::string stem = unique_stem();
    std::string run_id = stem + "_run";

    std::string main_uri;  // what the helper opens
    std::string main_name;
    std::unique_ptr<db::backend> main_backend;
    std::shared_ptr<db::database> main;

    std::string part_base;  // postgresql://postgres@127.0.0.1:PORT/
    std::unique_ptr<db::backend> part_backend;
    std::string p1_name = stem + "_p1";
    std::string p2_name = stem + "_p2";
    std::string dsn1;
    std::string dsn2;
    std::shared_ptr<db::database> p1;
    std::shared_ptr<db::database> p2;

    fs::path maildir = dir / "mail";
    fs::path staging = dir / "staging";
    fs::path out_dir = dir / "out";
    fs::path target = out_dir / "order.txt";

    crash_setup(main_kind main_on, const std::string& participants_base) : kind(main_on), part_base(participants_base) {
        fs::create_directories(out_dir);
        if (kind == main_kind::sqlite) {
            main_uri = "sqlite://" + (dir / "main-db").string();
            main_name = "main";
        } else {
            main_uri = atrium::test::pg_dsn();
            main_name = stem + "_main";
        }
        main_backend = db::open_backend(main_uri);
        main_backend->create(main_name);
        main = main_backend->open(main_name);
        run_statement(*main, "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");

        part_backend = db::open_backend(part_base);
        for (const auto& name : {p1_name, p2_name}) {
            part_backend->create(name);
            run_statement(*part_backend->open(name), "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");
        }
        p1 = part_backend->open(p1_name);
        p2 = part_backend->open(p2_name);
        dsn1 = part_base + p1_name;
        dsn2 = part_base + p2_name;
    }

    ~crash_setup() {
        // A failed case may leave prepared transactions, which block DROP DATABASE.
        try {
            for (const auto& dsn : {dsn1, dsn2}) {
                db::pg_participant_store store(dsn);
                for (const auto& gid : store.in_doubt()) store.rollback(gid);
            }
        } catch (const std::exception& e) {
            MESSAGE("crash_setup clean-up: " << std::string(e.what()));
        }
        p1.reset();
        p2.reset();
        main.reset();
        for (const auto& name : {p1_name, p2_name}) {
            try {
                part_backend->drop(name);
            } catch (const std::exception& e) {
                MESSAGE("cannot drop " << name << ": " << std::string(e.what()));
            }
        }
        if (kind == main_kind::postgresql) {
            try {
                main_backend->drop(main_name);
            } catch (const std::exception& e) {
                MESSAGE("cannot drop " << main_name << ": " << std::string(e.what()));
            }
        }
    }

    std::vector<std::string> helper_argv(const std::string& point) const {
        return {ATRIUM_TPC_CRASH_HELPER, main_uri, main_name, dsn1, dsn2, maildir.string(),
                staging.string(), target.string(), run_id, point};
    }
    fs::path next_log() { return dir / ("helper-" + std::to_string(++helper_runs) + ".log"); }
    process_result run_helper(const std::string& point) { return run_process(helper_argv(point), next_log()); }
    int helper_runs = 0;

    // --- what is where ---
    bool main_row() { return count_of(*main, "SELECT COUNT(*) FROM crash_row WHERE run = ?", {run_id}) == 1; }
    bool p1_row() { return count_of(*p1, "SELECT COUNT(*) FROM crash_row WHERE run = ?", {run_id}) == 1; }
    bool p2_row() { return count_of(*p2, "SELECT COUNT(*) FROM crash_row WHERE run = ?", {run_id}) == 1; }
    std::vector<std::string> prepared(const std::string& database_name) {
        auto conn = p1->acquire();
        conn->begin({});
        const auto rows =
            conn->execute("SELECT gid FROM pg_prepared_xacts WHERE database = ? ORDER BY gid", {database_name});
        conn->commit();
        conn.return_to_pool();
        std::vector<std::string> gids;
        for (const auto& row : rows.rows) gids.push_back(std::get<std::string>(row.front()));
        return gids;
    }
    std::size_t mails_delivered() {
        std::size_t n = 0;
        std::error_code ec;
        for (auto it = fs::directory_iterator(maildir / "new", ec); !ec && it != fs::directory_iterator();
             it.increment(ec)) {
            const auto text = read_text(it->path());
            if (text.find("Subject: " + run_id) != std::string::npos) ++n;
        }
        return n;
    }
    std::size_t mails_staged() { return files_in(maildir / "tmp"); }
    std::size_t manifests() { return files_in(staging); }
    bool target_written() { return fs::exists(target) && read_text(target) == run_id + "\n"; }
    /// Files next to the target other than the target (staged temporaries).
    std::size_t target_temporaries() { return files_in(out_dir) - (fs::exists(target) ? 1 : 0); }

    /// One recovery pass over the four participants, as the server would run it.
    tpc::recovery_report recover() {
        db::pg_participant_store s1(dsn1);
        db::pg_participant_store s2(dsn2);
        mail_outbox_store mail(maildir);
        file_manager_store files(staging);
        return tpc::recover(*main, {&s1, &s2, &mail, &files});
    }

    /// The final state: all-or-nothing, as `committed` says; nothing in doubt.
    void check_final(bool committed) {
        CHECK(main_row() == committed);
        CHECK(p1_row() == committed);
        CHECK(p2_row() == committed);
        CHECK(mails_delivered() == (committed ? 1u : 0u));
        CHECK(target_written() == committed);
        if (!committed) CHECK_FALSE(fs::exists(target));
        CHECK(prepared(p1_name).empty());
        CHECK(prepared(p2_name).empty());
        CHECK(mails_staged() == 0);
        CHECK(manifests() == 0);
        CHECK(target_temporaries() == 0);
    }
};

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

/// Writes an atrium.conf for `s` (the same keys atriumd and atrium-admin read).
fs::path write_config(crash_setup& s) {
    const auto path = s.dir / "atrium.conf";
    std::ofstream out(path);
    out << "[database]\n"
        << "uri = " << s.main_uri << "\n"
        << "name = " << s.main_name << "\n"
        << "[tpc]\n"
        << "participants = " << s.dsn1 << ", " << s.dsn2 << "\n"
        << "[mail]\n"
        << "maildir = " << s.maildir.string() << "\n"
        << "[files]\n"
        << "staging = " << s.staging.string() << "\n";
    return path;
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

// --- the commands -----------------------------------------------------------

#ifdef ATRIUM_ADMIN
TEST_CASE("crash: atrium-admin --recover finishes a leftover crash from the configuration") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto helper = s.run_helper("after-main-commit");
    REQUIRE(helper.signaled);
    const auto config = write_config(s);

    const auto first = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "admin-1.log");
    INFO("atrium-admin output:\n" << first.output);
    CHECK(first.exit_code == 0);
    CHECK(first.output.find("atrium-admin: recovery: 4 participant(s), committed 4, rolled back 0, failed 0") !=
          std::string::npos);
    s.check_final(true);

    const auto second = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "admin-2.log");
    INFO("second atrium-admin output:\n" << second.output);
    CHECK(second.exit_code == 0);
    CHECK(second.output.find("committed 0, rolled back 0, failed 0") != std::string::npos);
    s.check_final(true);
}

TEST_CASE("crash: atrium-admin --recover fails clearly without its main database, and on a bad participant") {
    temp_dir dir;
    {
        std::ofstream out(dir / "missing.conf");
        out << "[database]\nuri = sqlite://" << (dir / "none").string() << "\nname = nope\n";
    }
    const auto missing = run_process({ATRIUM_ADMIN, "-c", (dir / "missing.conf").string(), "--recover"}, dir / "a.log");
    CHECK(missing.exit_code == 1);
    CHECK(missing.output.find("does not exist") != std::string::npos);
    {
        std::ofstream out(dir / "bad.conf");
        out << "[tpc]\nparticipants = postgresql://u:secret@host/\n";
    }
    const auto bad = run_process({ATRIUM_ADMIN, "-c", (dir / "bad.conf").string(), "--recover"}, dir / "b.log");
    INFO(bad.output);
    CHECK(bad.exit_code == 2);
    CHECK(bad.output.find("participants") != std::string::npos);
    CHECK(bad.output.find("secret") == std::string::npos);
    const auto usage = run_process({ATRIUM_ADMIN}, dir / "c.log");
    CHECK(usage.exit_code == 2);
}
#endif

#ifdef ATRIUM_ATRIUMD
TEST_CASE("crash: atriumd runs a recovery pass at start-up and reports it") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto helper = s.run_helper("after-all-votes");
    REQUIRE(helper.signaled);
    const auto config = write_config(s);
    const auto started = run_process({ATRIUM_ATRIUMD, "-c", config.string(), "--check"}, s.dir / "atriumd.log");
    INFO("atriumd output:\n" << started.output);
    CHECK(started.exit_code == 0);
    CHECK(started.output.find("atriumd: recovery: 4 participant(s), committed 0, rolled back 4, failed 0") !=
          std::string::npos);
    CHECK(started.output.find("atriumd: ready") != std::string::npos);
    s.check_final(false);
}

TEST_CASE("crash: a running atriumd's periodic recovery pass finishes a crash that happened after it started") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    {
        std::ofstream more(config, std::ios::app);
        more << "[web]\nlisten = 127.0.0.1:0\n";
    }
    ::setenv("ATRIUM_TPC__RECOVERY_INTERVAL", "1", 1);
    const pid_t server = spawn_process({ATRIUM_ATRIUMD, "-c", config.string()}, s.dir / "atriumd-periodic.log");
    ::unsetenv("ATRIUM_TPC__RECOVERY_INTERVAL");
    // The server is up (its start-up pass found nothing) before the crash.
    for (int i = 0; i < 300 && read_text(s.dir / "atriumd-periodic.log").find("atriumd: ready") == std::string::npos; ++i)
        ::usleep(20000);
    REQUIRE(read_text(s.dir / "atriumd-periodic.log").find("atriumd: ready") != std::string::npos);

    const auto helper = s.run_helper("after-all-votes");
    REQUIRE(helper.signaled);
    REQUIRE(s.prepared(s.p1_name).size() == 1);
    // Within a few intervals (branches younger than one interval are left to their coordinator).
    for (int i = 0; i < 150 && (!s.prepared(s.p1_name).empty() || !s.prepared(s.p2_name).empty()); ++i)
        ::usleep(100000);
    ::kill(server, SIGTERM);
    process_result stopped;
    wait_process(server, stopped, s.dir / "atriumd-periodic.log");
    INFO("atriumd output:\n" << stopped.output);
    CHECK(stopped.exit_code == 0);
    // PostgreSQL branches wait one interval (min_age); mail and files go at the first pass.
    CHECK(stopped.output.find("periodic recovery: 4 participant(s), committed 0, rolled back") != std::string::npos);
    s.check_final(false);
}
#endif

// --- several main databases, one shared participant (issue 17 point 6) ----

namespace {

/// Main databases of one deployment (a SQLite directory, or databases on the
/// shared cluster) with crash_row and a two-phase-commit id each.
struct deployment {
    std::string uri;
    std::unique_ptr<db::backend> backend;
    std::vector<std::string> names;
    std::map<std::string, std::shared_ptr<db::database>> open;
    fs::path maildir;
    fs::path staging;
    fs::path out_dir;

    deployment(const fs::path& dir, main_kind kind, const std::vector<std::string>& wanted)
        : maildir(dir / "mail"), staging(dir / "staging"), out_dir(dir / "out") {
        fs::create_directories(out_dir);
        uri = kind == main_kind::sqlite ? "sqlite://" + (dir / "db").string() : atrium::test::pg_dsn();
        backend = db::open_backend(uri);
        for (const auto& name : wanted) {
            backend->create(name);
            names.push_back(name);
            open[name] = backend->open(name);
            run_statement(*open[name], "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");
            tpc::ensure_database_id(*open[name]);  // as --init does
        }
    }
    ~deployment() {
        open.clear();
        if (uri.rfind("postgresql://", 0) != 0) return;
        for (const auto& name : names) {
            try {
                backend->drop(name);
            } catch (const std::exception& e) {
                MESSAGE("cannot drop " << name << ": " << std::string(e.what()));
            }
        }
    }
    db::database& operator[](const std::string& name) { return *open.at(name); }
    std::vector<std::string> helper_argv(const std::string& main, const std::string& warehouse_dsn,
                                         const std::string& run, const std::string& point) const {
        return {ATRIUM_TPC_CRASH_HELPER, uri, main, warehouse_dsn, "-", maildir.string(), staging.string(),
                (out_dir / (run + ".txt")).string(), run, point};
    }
    fs::path write_config(const fs::path& path, const std::string& main, const std::string& warehouse_dsn) const {
        std::ofstream out(path);
        out << "[database]\nuri = " << uri << "\nname = " << main << "\n[tpc]\nparticipants = " << warehouse_dsn
            << "\n[mail]\nmaildir = " << maildir.string() << "\n[files]\nstaging = " << staging.string() << "\n";
        return path;
    }
};

bool has_row(db::database& database, const std::string& run) {
    return count_of(database, "SELECT COUNT(*) FROM crash_row WHERE run = ?", {run}) == 1;
}

/// The shared warehouse: one participant database on the shared cluster.
struct warehouse_db {
    std::unique_ptr<db::backend> backend = db::open_backend(atrium::test::pg_dsn());
    std::string name = unique_stem() + "_wh";
    std::string dsn = atrium::test::pg_dsn() + name;
    std::shared_ptr<db::database> database;
    warehouse_db() {
        backend->create(name);
        database = backend->open(name);
        run_statement(*database, "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");
    }
    ~warehouse_db() {
        try {
            db::pg_participant_store store(dsn);
            for (const auto& gid : store.in_doubt()) store.rollback(gid);
        } catch (const std::exception& e) {
            MESSAGE("warehouse clean-up: " << std::string(e.what()));
        }
        database.reset();
        try {
            backend->drop(name);
        } catch (const std::exception& e) {
            MESSAGE("cannot drop " << name << ": " << std::string(e.what()));
        }
    }
    std::vector<std::string> prepared() {
        const auto rows = [&] {
            auto conn = database->acquire();
            conn->begin({});
            auto r = conn->execute("SELECT gid FROM pg_prepared_xacts WHERE database = ? ORDER BY gid", {name});
            conn->commit();
            conn.return_to_pool();
            return r;
        }();
        std::vector<std::string> gids;
        for (const auto& row : rows.rows) gids.push_back(std::get<std::string>(row.front()));
        return gids;
    }
};

std::size_t count_files(const fs::path& dir) { return files_in(dir); }

void check_two_main_databases(main_kind kind, bool through_admin) {
    temp_dir dir{"atrium-crash-multi-"};
    warehouse_db warehouse;
    const std::string stem = unique_stem();
    const std::string db1 = stem + "_db1";
    const std::string db2 = stem + "_db2";
    deployment ours(dir / "ours", kind, {db1, db2});
    // A second deployment (its own SQLite directory) sharing the warehouse.
    deployment theirs(dir / "theirs", main_kind::sqlite, {"other"});

    const std::string run = stem + "_run";
    const std::string foreign_run = stem + "_foreign";
    auto helper = run_process(ours.helper_argv(db2, warehouse.dsn, run, "after-main-commit"), dir / "helper.log");
    INFO("helper output:\n" << helper.output);
    REQUIRE(helper.signaled);
    auto other = run_process(theirs.helper_argv("other", warehouse.dsn, foreign_run, "after-main-commit"),
                             dir / "helper-other.log");
    INFO("other helper output:\n" << other.output);
    REQUIRE(other.signaled);

    // db2 committed its main transaction; both warehouse branches are prepared.
    CHECK(has_row(ours[db2], run));
    CHECK(has_row(theirs["other"], foreign_run));
    const auto before = warehouse.prepared();
    REQUIRE(before.size() == 2);
    std::string ours_gid;
    std::string their_gid;
    const auto db2_id = tpc::read_database_id(ours[db2]);
    const auto other_id = tpc::read_database_id(theirs["other"]);
    REQUIRE(db2_id);
    REQUIRE(other_id);
    for (const auto& gid : before) {
        if (tpc::gid_database(gid) == *db2_id) ours_gid = gid;
        if (tpc::gid_database(gid) == *other_id) their_gid = gid;
    }
    REQUIRE_FALSE(ours_gid.empty());  // the gid names db2, which holds its decision
    REQUIRE_FALSE(their_gid.empty());

    for (const auto& side : std::vector<std::string>{db1, db2}) {
        CAPTURE(side);
        // (Each side runs one pass; the second finds our branch finished.)
        if (through_admin) {
            const auto config = ours.write_config(dir / ("atrium-" + side + ".conf"), side, warehouse.dsn);
            const auto admin =
                run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, dir / ("admin-" + side + ".log"));
            INFO("atrium-admin output:\n" << admin.output);
            CHECK(admin.exit_code == 0);
            CHECK(admin.output.find("rolled back 0, failed 0") != std::string::npos);
        } else {
            db::pg_participant_store store(warehouse.dsn);
            mail_outbox_store mail(ours.maildir);
            file_manager_store files(ours.staging);
            tpc::database_list directory({&ours[db1], &ours[db2]}, &ours[side]);
            const auto report = tpc::recover(directory, {&store, &mail, &files});
            CHECK(report.rolled_back == 0);
            CHECK(report.failed == 0);
            CHECK(report.foreign == 1);  // the other deployment's branch
        }
        // The db2 branch ends committed whichever side recovered.
        CHECK(has_row(*warehouse.database, run));
        CHECK(count_files(ours.maildir / "new") == 1);
        CHECK(count_files(ours.maildir / "tmp") == 0);
        CHECK(count_files(ours.staging) == 0);
        CHECK(fs::exists(ours.out_dir / (run + ".txt")));
        // The other deployment's branch is never touched, no marker is written.
        CHECK(warehouse.prepared() == std::vector<std::string>{their_gid});
        CHECK_FALSE(has_row(*warehouse.database, foreign_run));
        CHECK_FALSE(tpc::decisions::lookup(ours[db1], their_gid).has_value());
        CHECK_FALSE(tpc::decisions::lookup(ours[db2], their_gid).has_value());
        CHECK_FALSE(tpc::decisions::lookup(ours[db1], ours_gid).has_value());
    }
    CHECK(tpc::decisions::lookup(ours[db2], ours_gid) == tpc::outcome::commit);

    // Its own recovery finishes it from its own decision.
    db::pg_participant_store store(warehouse.dsn);
    mail_outbox_store mail(theirs.maildir);
    file_manager_store files(theirs.staging);
    const auto report = tpc::recover(theirs["other"], {&store, &mail, &files});
    CHECK(report.committed == 3);
    CHECK(report.rolled_back == 0);
    CHECK(has_row(*warehouse.database, foreign_run));
    CHECK(warehouse.prepared().empty());
}

}  // namespace

TEST_CASE("crash: two main databases share a warehouse; SIGKILL after db2's main commit; recovery from either side "
          "commits db2's branch and never touches another deployment's (SQLite mains, library pass)") {
    check_two_main_databases(main_kind::sqlite, false);
}

TEST_CASE("crash: two main databases on PostgreSQL share a warehouse; recovery from either side (library pass)") {
    check_two_main_databases(main_kind::postgresql, false);
}

#ifdef ATRIUM_ADMIN
TEST_CASE("crash: two main databases share a warehouse; atrium-admin --recover configured for either one "
          "commits db2's branch and leaves another deployment's alone") {
    check_two_main_databases(main_kind::sqlite, true);
}

TEST_CASE("crash: two main databases on PostgreSQL share a warehouse; atrium-admin --recover configured for either "
          "one finds the other among the server's databases") {
    check_two_main_databases(main_kind::postgresql, true);
}
#endif

// --- operator tooling: atrium-admin tpc list / commit / rollback (issue 17 point 7)

#ifdef ATRIUM_ADMIN
namespace {

/// The lines of `tpc list` naming `gid` (tab-separated fields).
std::vector<std::vector<std::string>> listed(const std::string& output, const std::string& gid) {
    std::vector<std::vector<std::string>> lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(gid + "\t", 0) != 0) continue;
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, '\t');) fields.push_back(cell);
        lines.push_back(fields);
    }
    return lines;
}

}  // namespace

TEST_CASE("crash: atrium-admin tpc list shows the branches in doubt; commit/rollback follow the decision, "
          "--force overrules it") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    int runs = 0;
    auto admin = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {ATRIUM_ADMIN, "-c", config.string()});
        return run_process(args, s.dir / ("tpc-" + std::to_string(++runs) + ".log"));
    };

    SUBCASE("no decision recorded (killed after all votes): commit refused, rollback records abort") {
        REQUIRE(s.run_helper("after-all-votes").signaled);
        const auto gid1 = s.prepared(s.p1_name).at(0);
        const auto gid2 = s.prepared(s.p2_name).at(0);
        const auto list = admin({"tpc", "list"});
        INFO("tpc list:\n" << list.output);
        CHECK(list.exit_code == 0);
        CHECK(list.output.rfind("gid\tparticipant\tage_s\tdecision\tdatabase\n", 0) == 0);
        const auto line = listed(list.output, gid1);
        REQUIRE(line.size() == 1);
        REQUIRE(line[0].size() == 5);
        CHECK(line[0][1] == s.dsn1);  // the participant (no password in the test DSN)
        CHECK(line[0][2] != "-");
        CHECK(std::stoll(line[0][2]) >= 0);
        CHECK(std::stoll(line[0][2]) < 600);
        CHECK(line[0][3] == "none");
        CHECK(line[0][4] == s.main_name);
        CHECK(listed(list.output, gid2).size() == 1);

        const auto refused = admin({"tpc", "commit", gid1});
        INFO("tpc commit:\n" << refused.output);
        CHECK(refused.exit_code == 1);
        CHECK(refused.output.find("presumed abort") != std::string::npos);
        CHECK(s.prepared(s.p1_name).size() == 1);
        CHECK_FALSE(tpc::decisions::lookup(*s.main, gid1).has_value());

        const auto rolled = admin({"tpc", "rollback", gid1});
        INFO("tpc rollback:\n" << rolled.output);
        CHECK(rolled.exit_code == 0);
        CHECK(rolled.output.find("rolled back " + gid1) != std::string::npos);
        CHECK(s.prepared(s.p1_name).empty());
        CHECK(tpc::decisions::lookup(*s.main, gid1) == tpc::outcome::abort);
        CHECK(s.prepared(s.p2_name).size() == 1);  // the other branch is not touched

        const auto forced = admin({"tpc", "commit", gid2, "--force"});
        INFO("tpc commit --force:\n" << forced.output);
        CHECK(forced.exit_code == 0);
        CHECK(forced.output.find("WARNING") != std::string::npos);
        CHECK(forced.output.find("forced") != std::string::npos);
        CHECK(s.p2_row());
        CHECK(tpc::decisions::lookup(*s.main, gid2) == tpc::outcome::commit);
        CHECK(admin({"tpc", "rollback", gid2}).exit_code == 1);  // no longer in doubt anywhere
    }
    SUBCASE("commit recorded (killed after the main commit): rollback refused unless --force") {
        REQUIRE(s.run_helper("after-main-commit").signaled);
        const auto gid1 = s.prepared(s.p1_name).at(0);
        const auto gid2 = s.prepared(s.p2_name).at(0);
        const auto list = admin({"tpc", "list"});
        INFO("tpc list:\n" << list.output);
        CHECK(list.exit_code == 0);
        REQUIRE(listed(list.output, gid1).size() == 1);
        CHECK(listed(list.output, gid1)[0][3] == "commit");
        // Mail and files are listed too (their own gids).
        CHECK(list.output.find("\tmail:") != std::string::npos);
        CHECK(list.output.find("\tfiles:") != std::string::npos);

        const auto refused = admin({"tpc", "rollback", gid1});
        INFO("tpc rollback:\n" << refused.output);
        CHECK(refused.exit_code == 1);
        CHECK(refused.output.find("is commit") != std::string::npos);
        CHECK(s.prepared(s.p1_name).size() == 1);

        const auto committed = admin({"tpc", "commit", gid2});
        INFO("tpc commit:\n" << committed.output);
        CHECK(committed.exit_code == 0);
        CHECK(s.p2_row());
        CHECK(s.prepared(s.p2_name).empty());

        const auto forced = admin({"tpc", "rollback", gid1, "--force"});
        INFO("tpc rollback --force:\n" << forced.output);
        CHECK(forced.exit_code == 0);
        CHECK(forced.output.find("WARNING") != std::string::npos);
        CHECK(forced.output.find("against the recorded decision commit") != std::string::npos);
        CHECK(s.prepared(s.p1_name).empty());
        CHECK_FALSE(s.p1_row());
        CHECK(tpc::decisions::lookup(*s.main, gid1) == tpc::outcome::abort);  // overruled, for its other branches
        // Recovery finishes the rest (mail and files) from the recorded commit.
        CHECK(s.recover().committed == 2);
    }
    SUBCASE("bad usage") {
        CHECK(admin({"tpc", "commit", "not-a-gid"}).exit_code == 2);
        CHECK(admin({"tpc", "frobnicate"}).exit_code == 2);
        CHECK(admin({"tpc"}).exit_code == 2);
        CHECK(admin({"tpc", "list", "--force"}).exit_code == 2);
        CHECK(admin({"tcp", "list"}).exit_code == 2);
        const auto missing = admin({"tpc", "rollback", tpc::new_gid(std::string(32, 'a'))});
        CHECK(missing.exit_code == 1);
        CHECK(missing.output.find("not in doubt") != std::string::npos);
    }
}

TEST_CASE("crash: atrium-admin tpc refuses to decide another deployment's branch without --force") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    // A branch prepared by a coordinator whose main database is not served here.
    const std::string foreign = tpc::new_gid("00000000000040008000000000000000");
    {
        auto conn = s.p1->acquire();
        conn->execute("BEGIN");
        conn->execute("INSERT INTO crash_row (run) VALUES ('foreign')");
        conn->execute("PREPARE TRANSACTION '" + foreign + "'");
        conn.discard();
    }
    const auto list = run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "list"}, s.dir / "l.log");
    INFO(list.output);
    REQUIRE(listed(list.output, foreign).size() == 1);
    CHECK(listed(list.output, foreign)[0][3] == "foreign");
    CHECK(listed(list.output, foreign)[0][4] == "-");
    const auto refused =
        run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "rollback", foreign}, s.dir / "r.log");
    CHECK(refused.exit_code == 1);
    CHECK(refused.output.find("not served here") != std::string::npos);
    CHECK(s.prepared(s.p1_name) == std::vector<std::string>{foreign});
    // --recover leaves it alone as well.
    const auto recover = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "rec.log");
    CHECK(recover.exit_code == 0);
    CHECK(s.prepared(s.p1_name) == std::vector<std::string>{foreign});
    const auto forced =
        run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "rollback", foreign, "--force"}, s.dir / "f.log");
    INFO(forced.output);
    CHECK(forced.exit_code == 0);
    CHECK(forced.output.find("forced") != std::string::npos);
    CHECK(s.prepared(s.p1_name).empty());
}
#endif

// --- the configuration keys -------------------------------------------------

TEST_CASE("crash: tpc.participants, mail.maildir and files.staging in the configuration") {
    using atrium::server::config_error;
    using atrium::server::parse_config;
    const auto defaults = parse_config("");
    CHECK(defaults.tpc.participants.empty());
    CHECK(defaults.mail.maildir == "./var/mail");
    CHECK(defaults.files.staging == "./var/staging");

    const auto cfg = parse_config(
        "[tpc]\nparticipants = postgresql://a:pw@h1:5432/one ,postgresql://b@h2/two,\n"
        "[mail]\nmaildir =\n[files]\nstaging = /srv/staging\n");
    CHECK(cfg.tpc.participants == std::vector<std::string>{"postgresql://a:pw@h1:5432/one", "postgresql://b@h2/two"});
    CHECK(cfg.mail.maildir.empty());
    CHECK(cfg.files.staging == "/srv/staging");

    CHECK_THROWS_AS(parse_config("[tpc]\nparticipants = postgresql://h/one, postgresql://h/one\n"), config_error);
    CHECK_THROWS_AS(parse_config("[tpc]\nparticipants = host=h dbname=x\n"), config_error);
    CHECK_THROWS_AS(parse_config("[tpc]\nnope = 1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[mail]\nsmtp = x\n"), config_error);
    try {
        parse_config("[tpc]\nparticipants = postgresql://u:secret@h/\n");
        FAIL("a DSN without a database name is refused");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()).find("secret") == std::string::npos);
    }

    atrium::server::config env_cfg;
    atrium::server::apply_environment(env_cfg, {{"ATRIUM_TPC__PARTICIPANTS", "postgresql://x@h/db"}});
    CHECK(env_cfg.tpc.participants == std::vector<std::string>{"postgresql://x@h/db"});
}
