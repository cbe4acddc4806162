#pragma once
// A tiny logging facade: one line per message, to std::clog by default. A sink
// can be installed (tests capture messages with scoped_log_sink). Thread-safe;
// the sink is called outside any lock, so a sink may itself log.
//
// Also the failure-path helpers every layer needs: describe an exception for a
// log line or a saved failure description, and call something "guarded" (log
// and continue). Guarded calls never swallow boost::context's forced_unwind
// (the exception that unwinds a fiber being destroyed): it is rethrown
// (fiber/unwind.hpp).

#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace atrium {

enum class log_level { critical, error, warning, info };

/// "CRITICAL", "ERROR", "WARNING", "INFO".
std::string_view to_string(log_level level) noexcept;

/// Receives every message (level, text without trailing newline).
using log_sink = std::function<void(log_level, std::string_view)>;

/// Installs `sink` (an empty function restores the std::clog default); returns the previous sink.
log_sink set_log_sink(log_sink sink);

void log_message(log_level level, std::string_view message) noexcept;

/// `log.format`: text lines "atrium INFO: <message>" (default) or JSON lines
/// {"time":…,"level":"INFO","msg":…}. A message that is itself a JSON object
/// (starts with {" — the call lines in JSON mode) has its fields merged in.
void set_log_json(bool on) noexcept;
bool log_json() noexcept;
/// Appends one formatted line (with its newline) to `out`.
void append_log_line(std::string& out, log_level level, std::string_view message);
void log_critical(std::string_view message) noexcept;
void log_error(std::string_view message) noexcept;
void log_warning(std::string_view message) noexcept;
void log_info(std::string_view message) noexcept;

/// Installs a sink for the lifetime of the scope, then restores the previous one.
class scoped_log_sink {
public:
    explicit scoped_log_sink(log_sink sink) : previous_(set_log_sink(std::move(sink))) {}
    ~scoped_log_sink() { set_log_sink(std::move(previous_)); }
    scoped_log_sink(const scoped_log_sink&) = delete;
    scoped_log_sink& operator=(const scoped_log_sink&) = delete;

private:
    log_sink previous_;
};

/// "<demangled dynamic type>: <what()>" for std::exception, "unknown exception" otherwise.
std::string describe_exception(const std::exception_ptr& error);

/// Calls `fn`; an exception is logged at `level` as "<what>: <description>"
/// and returned (nullptr when `fn` succeeded). forced_unwind is rethrown, never logged.
std::exception_ptr call_guarded(log_level level, std::string_view what, const std::function<void()>& fn);

}  // namespace atrium
