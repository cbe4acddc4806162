#include "server/supervisor.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace atrium::server {

process_role& this_process() noexcept {
    static process_role role;
    return role;
}

const char* process_header_value() noexcept {
    static const std::string pid = std::to_string(::getpid());  // first asked in the child
    return this_process().supervised() ? pid.c_str() : nullptr;
}

namespace {

using clock = std::chrono::steady_clock;

// Restarts of a child that keeps dying wait 0.25 s, 0.5 s, … up to 10 s; a
// child that lived for a minute starts the series again.
constexpr auto first_backoff = std::chrono::milliseconds(250);
constexpr auto max_backoff = std::chrono::seconds(10);
constexpr auto healthy_life = std::chrono::seconds(60);

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

void say(const std::string& line) { std::clog << "atriumd: supervisor: " << line << std::endl; }

// One listening socket per child, all bound with SO_REUSEPORT to the same
// address (the kernel spreads new connections over them); the supervisor
// keeps them, so connections queued on a dead child's socket wait for its
// successor instead of being refused. Port 0: the first one picks the port.
std::vector<int> open_listeners(const std::string& host, unsigned short port, int count) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
        throw std::system_error(EINVAL, std::generic_category(), "cannot resolve " + host + ": " + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
    sockaddr_storage address{};
    std::memcpy(&address, found->ai_addr, found->ai_addrlen);
    const socklen_t length = found->ai_addrlen;
    std::vector<int> out;
    for (int i = 0; i < count; ++i) {
        const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, found->ai_protocol);
        if (fd < 0) fail("socket");
        out.push_back(fd);
        const int on = 1;
        if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
            fail("SO_REUSEPORT");
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 || ::listen(fd, SOMAXCONN) != 0) {
            const int saved = errno;
            for (const int opened : out) ::close(opened);
            errno = saved;
            fail("cannot listen on " + host + ":" + service);
        }
        if (i == 0) {  // port 0: the others take the port the first one got
            socklen_t bound_length = sizeof address;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &bound_length);
        }
    }
    return out;
}

struct child {
    pid_t pid = -1;
    clock::time_point started;
    clock::duration backoff = first_backoff;
    std::optional<clock::time_point> restart_at;  // dead, to be restarted then
};

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

std::string describe(int status) {
    if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    return "stopped";
}

}  // namespace

std::optional<int> supervise(int processes, const std::string& host, unsigned short port) {
    const std::vector<int> listen_fds = open_listeners(host, port, processes);
    auto close_listeners = [&] {
        for (const int fd : listen_fds) ::close(fd);
    };
    const sigset_t handled = handled_signals();
    sigset_t previous;
    ::sigprocmask(SIG_BLOCK, &handled, &previous);
    const pid_t supervisor = ::getpid();
    std::vector<child> children(static_cast<std::size_t>(processes));
    // Under systemd the children notify (READY, STOPPING, WATCHDOG; the unit
    // says NotifyAccess=all): without WATCHDOG_PID, naming the supervisor, each
    // child takes the watchdog as its own (sd_watchdog_enabled).
    ::unsetenv("WATCHDOG_PID");

    // Forks child `index`; in the child, returns true with this_process() set.
    auto start = [&](int index, bool first_start, int* ready_read) {
        int ready[2] = {-1, -1};
        if (ready_read && ::pipe2(ready, O_CLOEXEC) != 0) fail("pipe");
        const pid_t pid = ::fork();
        if (pid < 0) fail("fork");
        if (pid == 0) {
            ::sigprocmask(SIG_SETMASK, &previous, nullptr);
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the supervisor killed: drain and go
            if (::getppid() != supervisor) ::raise(SIGTERM);
            if (ready[0] >= 0) ::close(ready[0]);
            for (std::size_t i = 0; i < listen_fds.size(); ++i)  // the others' sockets are theirs
                if (i != static_cast<std::size_t>(index)) ::close(listen_fds[i]);
            this_process() = {index, processes, first_start, listen_fds[static_cast<std::size_t>(index)], ready[1]};
            return true;
        }
        if (ready[1] >= 0) ::close(ready[1]);
        if (ready_read) *ready_read = ready[0];
        auto& c = children[static_cast<std::size_t>(index)];
        c.pid = pid;
        c.started = clock::now();
        c.restart_at.reset();
        say("child " + std::to_string(index) + " started, pid " + std::to_string(pid));
        return false;
    };
    auto stop_all = [&](int signal) {
        for (const auto& c : children)
            if (c.pid > 0) ::kill(c.pid, signal);
    };
    auto wait_all = [&] {
        bool clean = true;
        int status = 0;
        for (;;) {
            const pid_t pid = ::waitpid(-1, &status, 0);
            if (pid < 0 && errno == EINTR) continue;
            if (pid < 0) break;  // ECHILD: none left
            for (std::size_t i = 0; i < children.size(); ++i)
                if (children[i].pid == pid) {
                    children[i].pid = -1;
                    say("child " + std::to_string(i) + " " + describe(status));
                }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = false;
        }
        return clean;
    };
    auto pending_stop = [&] {
        siginfo_t info;
        timespec none{0, 0};
        for (;;) {
            const int sig = ::sigtimedwait(&handled, &info, &none);
            if (sig == SIGTERM || sig == SIGINT) return true;
            if (sig < 0) return false;  // nothing pending (SIGCHLD consumed: waitpid decides)
        }
    };

    // First start: one after the other, each once the previous one serves.
    for (int index = 0; index < processes; ++index) {
        int ready = -1;
        if (start(index, true, &ready)) return std::nullopt;
        bool serving = false;
        for (;;) {
            pollfd p{ready, POLLIN, 0};
            const int n = ::poll(&p, 1, 100);
            if (n > 0) {
                char byte = 0;
                serving = ::read(ready, &byte, 1) == 1;
                break;
            }
            if (pending_stop()) break;
        }
        ::close(ready);
        if (!serving) {
            say(index == 0 && !pending_stop() ? "child 0 did not start; stopping" : "stopping during start-up");
            stop_all(SIGTERM);
            const bool clean = wait_all();
            close_listeners();
            return clean ? 0 : 1;
        }
    }
    say(std::to_string(processes) + " children serving");

    for (;;) {
        auto timeout = std::chrono::milliseconds(1000);
        const auto now = clock::now();
        for (const auto& c : children)
            if (c.restart_at)
                timeout = std::min(timeout, std::max(std::chrono::milliseconds(0),
                                                     std::chrono::duration_cast<std::chrono::milliseconds>(
                                                         *c.restart_at - now)));
        timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1000000};
        siginfo_t info;
        const int sig = ::sigtimedwait(&handled, &info, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            say("signal " + std::to_string(sig) + " received, draining the children");
            stop_all(SIGTERM);
            const bool clean = wait_all();
            close_listeners();
            say(clean ? "all children stopped" : "a child did not stop cleanly");
            return clean ? 0 : 1;
        }
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            for (std::size_t i = 0; i < children.size(); ++i) {
                auto& c = children[i];
                if (c.pid != pid) continue;
                c.pid = -1;
                const auto lived = clock::now() - c.started;
                if (lived >= healthy_life) c.backoff = first_backoff;
                c.restart_at = clock::now() + c.backoff;
                say("child " + std::to_string(i) + " " + describe(status) + "; restarting in " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(c.backoff).count()) + " ms");
                c.backoff = std::min<clock::duration>(c.backoff * 2, max_backoff);
            }
        }
        for (std::size_t i = 0; i < children.size(); ++i) {
            auto& c = children[i];
            if (c.restart_at && clock::now() >= *c.restart_at && start(static_cast<int>(i), false, nullptr))
                return std::nullopt;
        }
    }
}

}  // namespace atrium::server
