#pragma once
// Where the fiber runtime reports failures it cannot hand to anyone (a fiber
// body that failed without a completion, a deferred task that threw). The
// fiber layer has no logging of its own: the logging facade above it
// (transaction/logging.cpp) installs itself here; until then, std::clog.

#include <string_view>

namespace atrium::fiber {

/// Receives one error message (no trailing newline). Must not throw.
using error_reporter = void (*)(std::string_view message) noexcept;

/// Installs `reporter` (nullptr restores the std::clog default); returns the previous one.
error_reporter set_error_reporter(error_reporter reporter) noexcept;

/// Reports `message` at error level through the installed reporter.
void report_error(std::string_view message) noexcept;

}  // namespace atrium::fiber
