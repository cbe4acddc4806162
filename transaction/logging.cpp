#include "transaction/logging.hpp"

// Only the tiny forced_unwind header of Boost.Context (no Asio).
// boost::context::detail::forced_unwind policy of the catch (...) below:
// call_guarded() rethrows it so a fiber being destroyed unwinds normally;
// describe_exception() and is_forced_unwind() only classify a stored
// exception_ptr (nothing is unwinding there); log_message() is noexcept and a
// sink must never suspend the fiber, so no forced_unwind can reach it.
#include <boost/context/detail/exception.hpp>

#include <cxxabi.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <typeinfo>
#include <utility>

namespace atrium {

namespace {

std::mutex sink_mutex;
std::shared_ptr<const log_sink> installed_sink;  // null = std::clog

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                                     std::free);
    return status == 0 && demangled ? std::string(demangled.get()) : std::string(name);
}

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

std::string describe_exception(const std::exception_ptr& error) {
    if (!error) return "no exception";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return demangle(typeid(e).name()) + ": " + e.what();
    } catch (const boost::context::detail::forced_unwind&) {
        return "boost::context::detail::forced_unwind";
    } catch (...) {
        // forced_unwind is caught just above: describing never unwinds a fiber.
        if (const std::type_info* type = abi::__cxa_current_exception_type())
            return demangle(type->name()) + ": unknown exception";
        return "unknown exception";
    }
}

bool is_forced_unwind(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const boost::context::detail::forced_unwind&) {
        return true;
    } catch (...) {
        return false;
    }
}

std::exception_ptr call_guarded(log_level level, std::string_view what, const std::function<void()>& fn) {
    try {
        fn();
        return nullptr;
    } catch (const boost::context::detail::forced_unwind&) {
        throw;
    } catch (...) {
        std::exception_ptr error = std::current_exception();
        std::string message(what);
        message.append(": ").append(describe_exception(error));
        log_message(level, message);
        return error;
    }
}

}  // namespace atrium
