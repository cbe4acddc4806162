#include "tests/support/atriumd_process.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace atrium::test {

atriumd_process::atriumd_process(const std::string& binary, std::map<std::string, std::string> environment,
                                 std::vector<std::string> arguments)
    : dir_("atriumd-test-") {
    environment.emplace("ATRIUM_DATABASE__URI", "sqlite://" + dir_.string() + "/var");
    environment.emplace("ATRIUM_WEB__LISTEN", "127.0.0.1:0");
    environment.emplace("ATRIUM_MAIL__MAILDIR", "");
    environment.emplace("ATRIUM_FILES__STAGING", "");
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe() failed");
    const std::string log_path = (dir_ / "stderr.log").string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork() failed");
    if (pid_ == 0) {
        ::dup2(out[1], 1);
        const int err = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0) ::dup2(err, 2);
        ::close(out[0]);
        ::close(out[1]);
        if (::chdir(dir_.string().c_str()) != 0) ::_exit(126);
        // Only our overrides: inherited ATRIUM_* variables would change the test.
        std::vector<std::string> env_strings;
        for (char** e = environ; e && *e; ++e) {
            if (std::string(*e).rfind("ATRIUM_", 0) != 0) env_strings.emplace_back(*e);
        }
        for (const auto& [name, value] : environment) env_strings.push_back(name + "=" + value);
        std::vector<char*> envp;
        for (auto& s : env_strings) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::vector<std::string> args{binary};
        args.insert(args.end(), arguments.begin(), arguments.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execve(binary.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out[1]);
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string marker = "listening on http://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;
        char chunk[512];
        const auto n = ::read(out[0], chunk, sizeof chunk);
        if (n <= 0) break;
        seen.append(chunk, static_cast<std::size_t>(n));
        if (const auto at = seen.find(marker); at != std::string::npos && seen.find('/', at + marker.size()) != std::string::npos) {
            port_ = static_cast<std::uint16_t>(std::stoi(seen.substr(at + marker.size())));
            break;
        }
    }
    // Keep draining stdout in the background so the server never blocks on it.
    std::thread([fd = out[0]] {
        char chunk[512];
        while (::read(fd, chunk, sizeof chunk) > 0) {
        }
        ::close(fd);
    }).detach();
    if (port_ == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        throw std::runtime_error("atriumd did not report ready; stdout: " + seen + "\nstderr: " + log());
    }
}

atriumd_process::~atriumd_process() {
    if (pid_ > 0) {
        // The ordinary way out, so that every test also runs the shutdown path.
        ::kill(pid_, SIGTERM);
        if (wait(std::chrono::seconds(15)) == -1 && pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    const std::string text = log();
    const bool clean = text.find("AddressSanitizer") == std::string::npos &&
                       text.find("runtime error:") == std::string::npos &&
                       text.find("LeakSanitizer") == std::string::npos;
    CHECK_MESSAGE(clean, "atriumd reported a sanitizer error:\n" << text);
}

void atriumd_process::signal(int signal_number) {
    if (pid_ > 0) ::kill(pid_, signal_number);
}

int atriumd_process::wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    // A pidfd becomes readable when the process exits: no polling interval.
    const int exited = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (exited < 0) return -1;  // (Linux 5.3 and later have it)
    pollfd p{exited, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    ::close(exited);
    int status = 0;
    if (ready <= 0 || ::waitpid(pid_, &status, WNOHANG) != pid_) return -1;
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::string atriumd_process::log() const {
    std::ifstream in(dir_ / "stderr.log");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool atriumd_process::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout,
                                   std::size_t occurrences) const {
    const auto count = [&](const std::string& text) {
        std::size_t found = 0;
        for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++found;
        return found;
    };
    // Woken by inotify each time atriumd writes to the file.
    const int watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (watch >= 0) ::inotify_add_watch(watch, (dir_ / "stderr.log").c_str(), IN_MODIFY);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool seen = false;
    for (;;) {
        if (count(log()) >= occurrences) {
            seen = true;
            break;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || watch < 0) break;
        pollfd p{watch, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count()) + 1) > 0) {
            char events[4096];
            while (::read(watch, events, sizeof events) > 0) {
            }
        }
    }
    if (watch >= 0) ::close(watch);
    return seen;
}

}  // namespace atrium::test
