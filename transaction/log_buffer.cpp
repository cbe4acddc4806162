#include "transaction/log_buffer.hpp"

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace atrium {

namespace {

void write_all(int fd, const std::string& text) noexcept {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere to report a failing log
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

log_buffer::log_buffer(int fd, std::chrono::milliseconds interval, std::size_t capacity, now_function now)
    : fd_(fd), interval_(interval), capacity_(capacity), now_(std::move(now)) {
    pending_.reserve(capacity_);
    flusher_ = std::thread([this] { run_flusher(); });
}

log_buffer::~log_buffer() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    flusher_.join();
    flush();
}

void log_buffer::add(log_level level, std::string_view message) {
    bool now = false;
    {
        std::lock_guard lock(mutex_);
        append_log_line(pending_, level, message);
        now = level != log_level::info || pending_.size() >= capacity_ ||
              now_() - last_write_ >= interval_;
    }
    if (now) flush();
}

void log_buffer::flush() noexcept {
    std::lock_guard order(write_mutex_);
    std::string batch;
    {
        std::lock_guard lock(mutex_);
        if (pending_.empty()) return;
        batch.swap(pending_);
        pending_.reserve(capacity_);
        last_write_ = now_();
    }
    write_all(fd_, batch);
}

log_sink log_buffer::sink() {
    return [self = shared_from_this()](log_level level, std::string_view message) { self->add(level, message); };
}

void log_buffer::run_flusher() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        wake_.wait_for(lock, interval_);
        if (pending_.empty()) continue;
        lock.unlock();
        flush();
        lock.lock();
    }
}

scoped_log_buffer::scoped_log_buffer(int fd)
    : buffer_(std::make_shared<log_buffer>(fd)), previous_(set_log_sink(buffer_->sink())) {}

scoped_log_buffer::~scoped_log_buffer() {
    set_log_sink(std::move(previous_));
    buffer_->flush();
}

}  // namespace atrium
