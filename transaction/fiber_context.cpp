#include "transaction/fiber_context.hpp"

#include "transaction/manager.hpp"

#include <poll.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace atrium {

namespace {

class thread_waiter final : public fiber_waiter {
public:
    void sleep_for(std::chrono::nanoseconds duration) override { std::this_thread::sleep_for(duration); }
    void yield() override { std::this_thread::yield(); }
};

thread_waiter the_thread_waiter;

thread_local fiber_context* installed_context = nullptr;

fiber_context& thread_default_context() {
    thread_local fiber_context context;
    return context;
}

}  // namespace

void fiber_waiter::wait_readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    while (::poll(&entry, 1, -1) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    }
}

std::unique_ptr<db::socket_watch> fiber_waiter::watch_socket(int) { return nullptr; }

bool fiber_waiter::run_later(std::chrono::nanoseconds, std::function<void()>) { return false; }

std::shared_ptr<db::waker> fiber_waiter::make_waker() { return db::make_thread_waker(); }

fiber_context::fiber_context(fiber_waiter* waiter) : waiter_(waiter ? waiter : &the_thread_waiter) {}

fiber_context::~fiber_context() = default;

tpc::transaction_manager& fiber_context::manager() {
    if (!manager_) manager_ = std::make_unique<tpc::transaction_manager>();
    return *manager_;
}

void fiber_context::sleep_for(std::chrono::nanoseconds duration) { waiter_->sleep_for(duration); }

void fiber_context::yield() { waiter_->yield(); }

void fiber_context::wait_readable(int fd) { waiter_->wait_readable(fd); }

std::unique_ptr<db::socket_watch> fiber_context::watch_socket(int fd) { return waiter_->watch_socket(fd); }

bool fiber_context::run_later(std::chrono::nanoseconds delay, std::function<void()> task) {
    return waiter_->run_later(delay, std::move(task));
}

std::shared_ptr<db::waker> fiber_context::make_waker() { return waiter_->make_waker(); }

fiber_context& current_fiber() noexcept {
    fiber_context* context = installed_context;
    return context ? *context : thread_default_context();
}

db::wait_hooks fiber_wait_hooks() {
    db::wait_hooks hooks;
    hooks.sleep_for = [](std::chrono::nanoseconds duration) { current_fiber().sleep_for(duration); };
    hooks.wait_readable = [](int fd) { current_fiber().wait_readable(fd); };
    hooks.make_waker = [] { return current_fiber().make_waker(); };
    hooks.yield = [] { current_fiber().yield(); };
    hooks.watch_socket = [](int fd) { return current_fiber().watch_socket(fd); };
    hooks.run_later = [](std::chrono::nanoseconds delay, std::function<void()> task) {
        return current_fiber().run_later(delay, std::move(task));
    };
    return hooks;
}

fiber_context* exchange_current_fiber(fiber_context* context) noexcept {
    fiber_context* previous = installed_context;
    installed_context = context;
    return previous;
}

}  // namespace atrium
