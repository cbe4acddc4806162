#include "transaction/logging.hpp"

#include "fiber/report.hpp"
#include "fiber/unwind.hpp"

#include <iostream>
#include <memory>
#include <mutex>
#include <utility>

namespace atrium {

namespace {

std::mutex sink_mutex;
std::shared_ptr<const log_sink> installed_sink;  // null = std::clog

void report_fiber_error(std::string_view message) noexcept { log_error(message); }

// The fiber runtime below this layer reports its failures through this facade.
[[maybe_unused]] const bool fiber_reports_installed = (fiber::set_error_reporter(&report_fiber_error), true);

}  // namespace

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::critical: return "CRITICAL";
        case log_level::error: return "ERROR";
        case log_level::warning: return "WARNING";
        case log_level::info: return "INFO";
    }
    return "UNKNOWN";
}

log_sink set_log_sink(log_sink sink) {
    std::shared_ptr<const log_sink> next;
    if (sink) next = std::make_shared<const log_sink>(std::move(sink));
    std::shared_ptr<const log_sink> previous;
    {
        std::lock_guard lock(sink_mutex);
        previous = std::exchange(installed_sink, std::move(next));
    }
    return previous ? *previous : log_sink{};
}

void log_message(log_level level, std::string_view message) noexcept {
    try {
        std::shared_ptr<const log_sink> sink;
        {
            std::lock_guard lock(sink_mutex);
            sink = installed_sink;
        }
        if (sink) {
            (*sink)(level, message);
            return;
        }
        std::string line;
        line.reserve(message.size() + 20);
        line.append("atrium ").append(to_string(level)).append(": ").append(message).push_back('\n');
        std::lock_guard lock(sink_mutex);  // one line at a time
        std::clog << line << std::flush;
    } catch (...) {
        // Logging must never throw; a failing sink loses the message (no
        // forced_unwind can arrive here: sinks do not suspend the fiber).
    }
}

void log_critical(std::string_view message) noexcept { log_message(log_level::critical, message); }
void log_error(std::string_view message) noexcept { log_message(log_level::error, message); }
void log_warning(std::string_view message) noexcept { log_message(log_level::warning, message); }
void log_info(std::string_view message) noexcept { log_message(log_level::info, message); }

std::string describe_exception(const std::exception_ptr& error) { return fiber::describe(error); }

std::exception_ptr call_guarded(log_level level, std::string_view what, const std::function<void()>& fn) {
    try {
        fn();
        return nullptr;
    } catch (...) {
        fiber::rethrow_if_unwinding();
        std::exception_ptr error = std::current_exception();
        std::string message(what);
        message.append(": ").append(describe_exception(error));
        log_message(level, message);
        return error;
    }
}

}  // namespace atrium
