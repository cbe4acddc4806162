#include "fiber/report.hpp"

#include <atomic>
#include <iostream>
#include <string>

namespace atrium::fiber {

namespace {

// Constant-initialised: a reporter installed during static initialisation of
// another translation unit is never overwritten.
constinit std::atomic<error_reporter> installed{nullptr};

}  // namespace

error_reporter set_error_reporter(error_reporter reporter) noexcept { return installed.exchange(reporter); }

void report_error(std::string_view message) noexcept {
    if (const error_reporter reporter = installed.load()) {
        reporter(message);
        return;
    }
    try {
        std::string line("atrium ERROR: ");
        line.append(message).push_back('\n');
        std::clog << line << std::flush;
    } catch (...) {
        // Reporting must never throw; the message is lost (no fiber is unwinding here).
    }
}

}  // namespace atrium::fiber
