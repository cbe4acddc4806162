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
#include "database/postgresql/pg_participant_store.hpp"
#include "server/config.hpp"
#include "tests/crash/pg_ctl.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/file_manager.hpp"
#include "transaction/mail_outbox.hpp"
#include "transaction/recovery.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fstream>
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
    database.release(std::move(conn));
    REQUIRE(rows.size() == 1);
    return std::get<std::int64_t>(rows.rows.front().front());
}

void run_statement(db::database& database, const std::string& sql) {
    auto conn = database.acquire();
    conn->begin({});
    conn->execute(sql);
    conn->commit();
    database.release(std::move(conn));
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
        p1->release(std::move(conn));
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
