#include "fiber/context.hpp"

#include <poll.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

namespace atrium::fiber {

namespace {

class blocking_waiter final : public waiter {
public:
    void sleep_for(std::chrono::nanoseconds duration) override { std::this_thread::sleep_for(duration); }
    void yield() override { std::this_thread::yield(); }
};

thread_local context* installed_context = nullptr;

context& thread_default_context() {
    thread_local context default_context;
    return default_context;
}

}  // namespace

void waiter::wait_readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    while (::poll(&entry, 1, -1) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    }
}

std::unique_ptr<socket_watch> waiter::watch_socket(int) { return nullptr; }

bool waiter::run_later(std::chrono::nanoseconds, std::function<void()>) { return false; }

std::shared_ptr<waker> waiter::make_waker() { return make_thread_waker(); }

waiter& thread_waiter() noexcept {
    static blocking_waiter the_thread_waiter;
    return the_thread_waiter;
}

context::context(fiber::waiter* waiter) : waiter_(waiter ? waiter : &thread_waiter()) {}

context::~context() = default;

void context::check_body_finished() const {
    for (const auto& value : slots_) {
        if (value) value->check_body_finished();
    }
}

std::size_t context::next_slot() noexcept {
    static std::atomic<std::size_t> count{0};
    return count++;
}

context& current() noexcept {
    context* installed = installed_context;
    return installed ? *installed : thread_default_context();
}

context* exchange_current(context* installed) noexcept {
    context* previous = installed_context;
    installed_context = installed;
    return previous;
}

}  // namespace atrium::fiber
