// pg_cluster_ctl: starts and stops the PostgreSQL cluster that the ctest
// fixture "pg" shares between test processes (tests/CMakeLists.txt).
//
//   pg_cluster_ctl start DIR   stops a cluster left in DIR by an earlier run, starts a
//                              new one, writes DIR/dsn (read by atrium::test::pg_dsn()
//                              when ATRIUM_TEST_PG_DIR=DIR) and DIR/cluster (its directory)
//   pg_cluster_ctl stop DIR    stops it (pg_ctl -m immediate) and removes its files
//   pg_cluster_ctl run -- CMD  starts a cluster, runs CMD with ATRIUM_TEST_PG_DSN set,
//                              stops the cluster; exits with CMD's status

#include "tests/support/pg_cluster.hpp"
#include "util/text.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using atrium::test::pg_cluster;

namespace {

std::string read_trimmed(const fs::path& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return std::string(atrium::util::trim_end(out.str(), "\n \r"));
}

void write_atomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << "\n";
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, path);
}

/// Stops the cluster recorded in `dir`, if any. False if it could not be stopped cleanly.
bool stop_recorded(const fs::path& dir) {
    const fs::path record = dir / "cluster";
    bool ok = true;
    if (fs::exists(record)) {
        const fs::path cluster_dir = read_trimmed(record);
        ok = pg_cluster::stop(cluster_dir);
        std::cout << (ok ? "stopped" : "could not stop cleanly") << " the PostgreSQL test cluster in "
                  << cluster_dir.string() << "\n";
    } else {
        std::cout << "no PostgreSQL test cluster recorded in " << dir.string() << "\n";
    }
    std::error_code ec;
    fs::remove(dir / "dsn", ec);
    fs::remove(record, ec);
    return ok;
}

int usage() {
    std::cerr << "usage: pg_cluster_ctl start DIR | stop DIR | run -- COMMAND [ARG...]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 2 && args[0] == "start") {
            const fs::path dir = fs::absolute(args[1]);
            fs::create_directories(dir);
            if (fs::exists(dir / "cluster")) stop_recorded(dir);  // a stale one from an interrupted run
            pg_cluster cluster = pg_cluster::start(/*watchdog=*/false);
            write_atomically(dir / "cluster", cluster.dir().string());
            write_atomically(dir / "dsn", cluster.dsn());
            std::cout << "started the PostgreSQL test cluster " << cluster.dsn() << " in " << cluster.dir().string()
                      << "\n";
            cluster.release();  // keeps running until `stop DIR`
            return 0;
        }
        if (args.size() == 2 && args[0] == "stop") {
            return stop_recorded(fs::absolute(args[1])) ? 0 : 1;
        }
        if (args.size() >= 3 && args[0] == "run" && args[1] == "--") {
            pg_cluster cluster = pg_cluster::start(/*watchdog=*/true);
            ::setenv("ATRIUM_TEST_PG_DSN", cluster.dsn().c_str(), 1);
            std::cout << "started the PostgreSQL test cluster " << cluster.dsn() << "\n" << std::flush;
            std::vector<char*> command;
            for (std::size_t i = 2; i < args.size(); ++i) command.push_back(args[i].data());
            command.push_back(nullptr);
            const pid_t pid = ::fork();
            if (pid == 0) {
                ::execvp(command[0], command.data());
                std::perror(command[0]);
                ::_exit(127);
            }
            int status = 0;
            ::waitpid(pid, &status, 0);
            cluster.stop();
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    } catch (const std::exception& e) {
        std::cerr << "pg_cluster_ctl: " << e.what() << "\n";
        return 1;
    }
    return usage();
}
