#include "transaction/logging.hpp"

#include "fiber/report.hpp"
#include "fiber/unwind.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
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
        append_log_line(line, level, message);
        std::lock_guard lock(sink_mutex);  // one line at a time
        std::clog << line << std::flush;
    } catch (...) {
        // Logging must never throw; a failing sink loses the message (no
        // forced_unwind can arrive here: sinks do not suspend the fiber).
    }
}

namespace {
std::atomic<bool> json_lines{false};
}  // namespace

void set_log_json(bool on) noexcept { json_lines.store(on, std::memory_order_relaxed); }
bool log_json() noexcept { return json_lines.load(std::memory_order_relaxed); }

void append_log_line(std::string& out, log_level level, std::string_view message) {
    if (!log_json()) {
        out.append("atrium ").append(to_string(level)).append(": ").append(message).push_back('\n');
        return;
    }
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char stamp[40];
    const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(millis));
    out.append("{\"time\":\"").append(stamp).append("\",\"level\":\"").append(to_string(level)).append("\",");
    if (message.size() > 2 && message.substr(0, 2) == "{\"" && message.back() == '}') {
        out.append(message.substr(1));
    } else {
        out.append("\"msg\":")
            .append(nlohmann::json(std::string(message)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
            .push_back('}');
    }
    out.push_back('\n');
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
