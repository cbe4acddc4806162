#pragma once
// A log sink that batches lines: at tens of thousands of calls a second, one
// write(2) per log line under a global lock is a visible share of a request.
// Lines are appended to a buffer and written by a flusher thread every
// `interval`; a warning or worse, a full buffer, or a line after a quiet
// period (nothing written for `interval`) is written at once, so a lightly
// loaded server logs as promptly as an unbuffered one.

#include "transaction/logging.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace atrium {

class log_buffer : public std::enable_shared_from_this<log_buffer> {
public:
    /// Where "now" comes from for the quiet-period rule: the steady clock, a
    /// hand-moved one in tests (the flusher's period stays real time).
    using now_function = std::function<std::chrono::steady_clock::time_point()>;

    explicit log_buffer(int fd, std::chrono::milliseconds interval = std::chrono::milliseconds(50),
                        std::size_t capacity = 64 * 1024, now_function now = std::chrono::steady_clock::now);
    /// Stops the flusher and writes what is left.
    ~log_buffer();
    log_buffer(const log_buffer&) = delete;
    log_buffer& operator=(const log_buffer&) = delete;

    /// Formats "atrium LEVEL: message\n" as the default sink does.
    void add(log_level level, std::string_view message);
    /// Writes everything buffered so far.
    void flush() noexcept;
    /// A sink for set_log_sink() that keeps this buffer alive.
    log_sink sink();

private:
    void run_flusher();

    const int fd_;
    const std::chrono::milliseconds interval_;
    const std::size_t capacity_;
    const now_function now_;
    std::mutex write_mutex_;  // keeps batches in order; taken before mutex_
    std::mutex mutex_;
    std::string pending_;
    std::chrono::steady_clock::time_point last_write_{};
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread flusher_;
};

/// Installs a log_buffer on `fd` as the log sink for the scope's lifetime;
/// on exit restores the previous sink and writes what is left.
class scoped_log_buffer {
public:
    explicit scoped_log_buffer(int fd);
    ~scoped_log_buffer();
    scoped_log_buffer(const scoped_log_buffer&) = delete;
    scoped_log_buffer& operator=(const scoped_log_buffer&) = delete;
    void flush() noexcept { buffer_->flush(); }

private:
    std::shared_ptr<log_buffer> buffer_;
    log_sink previous_;
};

}  // namespace atrium
