#include "tests/support/pg_cluster.hpp"

#include "util/text.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace atrium::test {

namespace fs = std::filesystem;

namespace {

/// Written into every cluster directory: stop() removes only directories that have it.
constexpr const char* marker_file = "ATRIUM_TEST_CLUSTER";

bool running_as_root() { return ::geteuid() == 0; }

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string trimmed(const std::string& s) { return std::string(util::trim(s, util::line_whitespace)); }

/// The last `lines` lines of a log file, for error messages.
std::string tail_of(const fs::path& path, std::size_t lines = 20) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(std::move(line));
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  | " + all[i] + "\n";
    return out;
}

/// The directory holding initdb and pg_ctl: $ATRIUM_PG_BINDIR, else the
/// newest /usr/lib/postgresql/<version>/bin, else (empty) the PATH.
const fs::path& pg_bindir() {
    // Never destroyed: the cluster is stopped at exit, after function statics
    // made later than this one would be gone.
    static const fs::path& dir = *new fs::path([] {
        if (const char* env = std::getenv("ATRIUM_PG_BINDIR"); env && *env) return fs::path(env);
        fs::path best;
        int best_version = -1;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
            const auto name = entry.path().filename().string();
            char* end = nullptr;
            const long version = std::strtol(name.c_str(), &end, 10);
            if (end == name.c_str() || *end != '\0') continue;
            if (!fs::exists(entry.path() / "bin" / "initdb", ec)) continue;
            if (version > best_version) {
                best_version = static_cast<int>(version);
                best = entry.path() / "bin";
            }
        }
        return best;
    }());
    return dir;
}

std::string pg_program(const char* name) {
    const auto& dir = pg_bindir();
    return dir.empty() ? std::string(name) : (dir / name).string();
}

std::string runuser_program() {
    for (const char* candidate : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    return "runuser";
}

/// `argv` as the user that owns the cluster: through runuser as `postgres`
/// when we are root (initdb and pg_ctl refuse to run as root).
std::vector<std::string> as_cluster_user(std::vector<std::string> argv) {
    if (!running_as_root()) return argv;
    std::vector<std::string> wrapped{runuser_program(), "-u", "postgres", "--"};
    wrapped.insert(wrapped.end(), std::make_move_iterator(argv.begin()), std::make_move_iterator(argv.end()));
    return wrapped;
}

std::string joined(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
    return out;
}

struct spawn_options {
    fs::path cwd = "/";
    std::optional<fs::path> output;  ///< stdout+stderr appended here; /dev/null if unset
    int stdin_fd = -1;               ///< becomes fd 0; /dev/null if < 0
    bool new_session = false;
};

/// posix_spawn of `argv` (searched in PATH). Throws std::system_error if it cannot start.
pid_t spawn(const std::vector<std::string>& argv, const spawn_options& options) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (options.stdin_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, 0);
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    const std::string out = options.output ? options.output->string() : std::string("/dev/null");
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    sigset_t empty, defaults;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    if (options.new_session) flags |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&attr, flags);

    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot run " + argv[0]);
    return pid;
}

/// Runs `argv` to its end; returns its exit status (128 + signal if killed).
int run(const std::vector<std::string>& argv, const spawn_options& options) {
    const pid_t pid = spawn(argv, options);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::system_error(err, std::generic_category(), "bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

/// mkdtemp under $TMPDIR (or /tmp), owned by the cluster user.
fs::path make_cluster_dir() {
    fs::path base = "/tmp";
    if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir && *tmpdir) base = tmpdir;
    std::string pattern = (base / "atrium-pg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp(" + pattern + ")");
    }
    fs::path dir = fs::absolute(pattern);
    std::ofstream(dir / marker_file) << "a temporary PostgreSQL cluster of Atrium's tests; removed when stopped\n";
    if (running_as_root()) {
        const passwd* pw = ::getpwnam("postgres");
        if (pw == nullptr) {
            std::error_code ec;
            fs::remove_all(dir, ec);
            throw std::runtime_error(
                "the tests run as root, and PostgreSQL refuses root: a `postgres` user is needed "
                "(apt-get install postgresql creates it)");
        }
        if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0 ||
            ::chown((dir / marker_file).c_str(), pw->pw_uid, pw->pw_gid) != 0) {
            throw std::system_error(errno, std::generic_category(), "chown " + dir.string());
        }
    }
    ::chmod(dir.c_str(), 0700);
    return dir;
}

std::string dsn_for(int port) { return "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/"; }

/// `pg_ctl -m immediate stop` of the server in `dir` if it runs (SIGKILL to the
/// postmaster if pg_ctl cannot do it). Keeps the files. False if it had to kill.
bool stop_server(const fs::path& dir) {
    std::error_code ec;
    const fs::path data = dir / "data";
    const fs::path pid_file = data / "postmaster.pid";
    if (!fs::exists(pid_file, ec)) return true;
    const std::vector<std::string> stop_cmd =
        as_cluster_user({pg_program("pg_ctl"), "-D", data.string(), "-m", "immediate", "-w", "-t", "30", "stop"});
    if (run(stop_cmd, {.cwd = dir, .output = dir / "pg_ctl.log"}) == 0 || !fs::exists(pid_file, ec)) return true;
    // pg_ctl could not do it: kill the postmaster (its children follow it).
    std::istringstream pid_text(read_file(pid_file));
    long pid = 0;
    if (pid_text >> pid && pid > 1) ::kill(static_cast<pid_t>(pid), SIGKILL);
    return false;
}

}  // namespace

// ---------------------------------------------------------------------------
// pg_cluster

pg_cluster pg_cluster::start(bool watchdog) {
    pg_cluster cluster;
    cluster.dir_ = make_cluster_dir();
    const fs::path& dir = cluster.dir_;
    const fs::path data = dir / "data";
    const fs::path log = dir / "server.log";
    try {
        // Watched from the start: a process killed while starting leaves nothing either.
        if (watchdog) cluster.start_watchdog();
        const auto initdb_log = dir / "initdb.log";
        const std::vector<std::string> initdb = as_cluster_user(
            {pg_program("initdb"), "-D", data.string(), "--auth=trust", "-U", "postgres", "--no-sync",
             "--encoding=UTF8", "--locale=C", "--no-instructions"});
        if (const int rc = run(initdb, {.cwd = dir, .output = initdb_log}); rc != 0) {
            throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "): " + joined(initdb) + "\n" +
                                     tail_of(initdb_log));
        }
        {
            std::ofstream conf(data / "postgresql.conf", std::ios::app);
            conf << "\n# Atrium test cluster\n"
                 << "include_if_exists = 'atrium_test.conf'\n";
        }
        // The port is free when we look, but another process may take it before
        // the server binds it: try a few ports.
        std::string last_error;
        for (int attempt = 0; attempt < 5; ++attempt) {
            const int port = free_port();
            {
                std::ofstream conf(data / "atrium_test.conf", std::ios::trunc);
                conf << "listen_addresses = '127.0.0.1'\n"
                     << "port = " << port << "\n"
                     << "unix_socket_directories = '" << dir.string() << "'\n"
                     << "max_prepared_transactions = 50\n"
                     << "max_connections = 200\n"
                     << "fsync = off\n"
                     << "synchronous_commit = off\n"
                     << "full_page_writes = off\n";
            }
            const std::vector<std::string> start = as_cluster_user(
                {pg_program("pg_ctl"), "-D", data.string(), "-l", log.string(), "-w", "-t", "60", "start"});
            const auto ctl_log = dir / "pg_ctl.log";
            if (const int rc = run(start, {.cwd = dir, .output = ctl_log}); rc == 0) {
                cluster.port_ = port;
                cluster.dsn_ = dsn_for(port);
                return cluster;
            } else {
                last_error = "pg_ctl start failed (exit " + std::to_string(rc) + "): " + joined(start) + "\n" +
                             tail_of(ctl_log) + "server.log:\n" + tail_of(log);
            }
            stop_server(dir);  // in case a server half-started
        }
        throw std::runtime_error(last_error);
    } catch (...) {
        cluster.stop();
        throw;
    }
}

bool pg_cluster::stop(const fs::path& dir) noexcept {
    try {
        std::error_code ec;
        if (dir.empty() || !fs::exists(dir / marker_file, ec)) return !fs::exists(dir, ec);
        const bool stopped = stop_server(dir);
        // The directory only holds the cluster; a new directory is made for the next one.
        fs::remove_all(dir, ec);
        return stopped && !ec;
    } catch (...) {
        return false;
    }
}

pg_cluster::pg_cluster(pg_cluster&& other) noexcept
    : dir_(std::exchange(other.dir_, {})),
      dsn_(std::exchange(other.dsn_, {})),
      port_(std::exchange(other.port_, 0)),
      watchdog_fd_(std::exchange(other.watchdog_fd_, -1)),
      watchdog_pid_(std::exchange(other.watchdog_pid_, -1)) {}

pg_cluster::~pg_cluster() { stop(); }

void pg_cluster::release() noexcept {
    end_watchdog();
    dir_.clear();
    dsn_.clear();
    port_ = 0;
}

void pg_cluster::stop() noexcept {
    if (!dir_.empty()) {
        stop(dir_);
        dir_.clear();
    }
    end_watchdog();  // after the stop: the watchdog then finds nothing to do
    dsn_.clear();
    port_ = 0;
}

void pg_cluster::start_watchdog() {
    // The child reads a pipe whose only writer is this process (close-on-exec,
    // so no other child inherits it). When this process dies for any reason,
    // the read sees end-of-file and the child stops the cluster. It runs in its
    // own session, so a Ctrl-C or a killed process group does not take it along.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    std::vector<std::string> argv{
        "/bin/sh", "-c",
        "dir=$1; shift; cat >/dev/null 2>&1; "
        "if [ -f \"$dir/data/postmaster.pid\" ]; then \"$@\"; fi; "
        "if [ -f \"$dir/" + std::string(marker_file) + "\" ]; then rm -rf \"$dir\"; fi",
        "atrium-pg-watchdog", dir_.string()};
    for (auto& arg : as_cluster_user({pg_program("pg_ctl"), "-D", (dir_ / "data").string(), "-m", "immediate", "-w",
                                      "-t", "30", "stop"})) {
        argv.push_back(std::move(arg));
    }
    try {
        watchdog_pid_ = spawn(argv, {.cwd = "/", .output = std::nullopt, .stdin_fd = fds[0], .new_session = true});
    } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
    }
    ::close(fds[0]);
    watchdog_fd_ = fds[1];
}

void pg_cluster::end_watchdog() noexcept {
    if (watchdog_fd_ >= 0) {
        ::close(watchdog_fd_);
        watchdog_fd_ = -1;
    }
    if (watchdog_pid_ > 0) {
        int status = 0;
        while (::waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
        }
        watchdog_pid_ = -1;
    }
}

// ---------------------------------------------------------------------------
// pg_dsn

namespace {

pg_cluster* process_cluster = nullptr;  // started by pg_dsn(), stopped at exit

void stop_process_cluster() {
    if (process_cluster) process_cluster->stop();
}

}  // namespace

const std::string& pg_dsn() {
    static std::once_flag once;
    static std::string& dsn = *new std::string;  // never destroyed: valid until the very end
    std::call_once(once, [] {
        if (const char* env = std::getenv("ATRIUM_TEST_PG_DSN"); env && *env) {
            dsn = env;
            return;
        }
        if (const char* env = std::getenv("ATRIUM_TEST_PG_DIR"); env && *env) {
            const fs::path file = fs::path(env) / "dsn";
            std::string text = trimmed(read_file(file));
            if (text.empty()) {
                throw std::runtime_error("ATRIUM_TEST_PG_DIR=" + std::string(env) + " but " + file.string() +
                                         " is missing or empty: did the ctest fixture test "
                                         "`pg_cluster_start` (pg_cluster_ctl start) run?");
            }
            dsn = std::move(text);
            return;
        }
        process_cluster = new pg_cluster(pg_cluster::start(/*watchdog=*/true));
        // Registered after everything start() initialised, so it runs before
        // their destructors. A process that dies otherwise leaves the job to
        // the watchdog.
        std::atexit(stop_process_cluster);
        dsn = process_cluster->dsn();
    });
    return dsn;
}

}  // namespace atrium::test
