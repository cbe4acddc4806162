#pragma once
// What the crash tests of two-phase commit (tests/crash/tpc_crash_*_test.cpp)
// share: child processes (the crash helper, atrium-admin, atriumd) and
// crash_setup, everything one crash run touches.

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

#include <filesystem>

#ifndef ATRIUM_TPC_CRASH_HELPER
#error "ATRIUM_TPC_CRASH_HELPER must name the helper executable"
#endif

namespace atrium::test::crash {

using namespace atrium;
namespace fs = std::filesystem;
using atrium::test::temp_dir;

enum class main_kind { sqlite, postgresql };

/// How a child process ended, and what it printed (stdout and stderr).
struct process_result {
    bool signaled = false;
    int signal = 0;
    int exit_code = -1;
    std::string output;
};

inline std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// fork + exec of `argv` (environment inherited), output to `log`; returns the pid.
inline pid_t spawn_process(const std::vector<std::string>& argv, const fs::path& log) {
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
inline bool wait_process(pid_t pid, process_result& result, const fs::path& log, bool until_stopped = false) {
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

inline process_result run_process(const std::vector<std::string>& argv, const fs::path& log) {
    process_result result;
    wait_process(spawn_process(argv, log), result, log);
    return result;
}

inline std::string unique_stem() {
    static std::atomic<int> counter{0};
    return "crash_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

inline std::int64_t count_of(db::database& database, const std::string& sql, const std::vector<db::value>& params = {}) {
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

inline void run_statement(db::database& database, const std::string& sql) {
    auto conn = database.acquire();
    conn->begin({});
    conn->execute(sql);
    conn->commit();
    conn.return_to_pool();
}

inline std::size_t files_in(const fs::path& dir) {
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

/// Writes an atrium.conf for `s` (the same keys atriumd and atrium-admin read).
inline fs::path write_config(crash_setup& s) {
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

}  // namespace atrium::test::crash
