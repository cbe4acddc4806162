#pragma once
/// @file
/// @brief Starts the real atriumd binary (or atriumd_test, which adds the
/// test.* methods) for a test: its own SQLite directory
/// (a temp_dir, also its working directory), web.listen on a free loopback
/// port (port 0; the port is read from the ready line), extra environment
/// (ATRIUM_<SECTION>__<KEY> overrides).
/// Stopped with SIGTERM (exit status checked by the test) or killed at the end.

#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace atrium::test {

class atriumd_process {
public:
    /// Starts `binary` and waits (up to 30 s) for "listening on http://127.0.0.1:<port>/".
    /// Throws std::runtime_error with the captured stderr when it does not come.
    explicit atriumd_process(const std::string& binary, std::map<std::string, std::string> environment = {},
                             std::vector<std::string> arguments = {});
    /// SIGTERM (SIGKILL after 15 s) if still running; then CHECKs that its
    /// stderr has no sanitizer report (so must run inside a doctest test case).
    ~atriumd_process();
    atriumd_process(const atriumd_process&) = delete;
    atriumd_process& operator=(const atriumd_process&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    /// Sends `signal` (SIGTERM by default).
    void signal(int signal_number);
    /// Waits up to `timeout` for the process to exit; its exit code, -1 on timeout, 128+n if killed by signal n.
    int wait(std::chrono::milliseconds timeout);
    /// What it has written on stderr so far (logs). atriumd batches log lines
    /// (written within 50 ms): while it runs, wait for a line with wait_for_log().
    std::string log() const;
    /// Waits up to `timeout` until stderr holds `needle` `occurrences` times
    /// (re-reading the file as it grows); true if it came.
    bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                      std::size_t occurrences = 1) const;

private:
    temp_dir dir_;
    int pid_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace atrium::test
