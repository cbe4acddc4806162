#pragma once
/// @file
/// @brief `pg_ctl` on a cluster made by atrium::test::pg_cluster (its
/// directory holds data/ and server.log), run as `postgres` when we are root —
/// for the crash tests that stop or restart a participant's server.

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace atrium::test::crash {

/// $ATRIUM_PG_BINDIR/pg_ctl, else the newest /usr/lib/postgresql/N/bin/pg_ctl, else "pg_ctl".
inline std::string pg_ctl_program() {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("ATRIUM_PG_BINDIR"); env && *env) return (fs::path(env) / "pg_ctl").string();
    fs::path best;
    long best_version = -1;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        char* end = nullptr;
        const auto name = entry.path().filename().string();
        const long version = std::strtol(name.c_str(), &end, 10);
        if (end == name.c_str() || *end != '\0' || !fs::exists(entry.path() / "bin" / "pg_ctl", ec)) continue;
        if (version > best_version) {
            best_version = version;
            best = entry.path() / "bin" / "pg_ctl";
        }
    }
    return best.empty() ? std::string("pg_ctl") : best.string();
}

/// `pg_ctl -D DIR/data -l DIR/server.log -w -t 60 ACTION...`; throws std::runtime_error if it fails.
inline void pg_ctl(const std::filesystem::path& dir, const std::vector<std::string>& action) {
    std::vector<std::string> argv;
    if (::geteuid() == 0) argv = {"runuser", "-u", "postgres", "--"};
    argv.insert(argv.end(), {pg_ctl_program(), "-D", (dir / "data").string(), "-l", (dir / "server.log").string(),
                             "-w", "-t", "60"});
    argv.insert(argv.end(), action.begin(), action.end());
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::runtime_error("waitpid failed");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string cmd;
        for (const auto& a : argv) cmd += " " + a;
        throw std::runtime_error("pg_ctl failed (status " + std::to_string(status) + "):" + cmd);
    }
}

}  // namespace atrium::test::crash
