#include "transaction/fiber_context.hpp"

#include "transaction/manager.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <string>

namespace atrium {

fiber_transactions::fiber_transactions() = default;

fiber_transactions::~fiber_transactions() = default;

tpc::transaction_manager& fiber_transactions::manager() {
    if (!manager_) manager_ = std::make_unique<tpc::transaction_manager>();
    return *manager_;
}

void fiber_transactions::check_body_finished() const {
    if (const auto left = stack_.size(); left != 0) {
        throw std::logic_error("fiber body returned with " + std::to_string(left) +
                               " transaction reference(s) still on its stack");
    }
}

fiber_transactions& fiber_state(fiber::context& context) { return context.local<fiber_transactions>(); }

call_limits_scope::call_limits_scope(fiber_transactions::call_limits limits)
    : previous_(std::exchange(fiber_state().call(), std::move(limits))) {}

call_limits_scope::~call_limits_scope() { fiber_state().call() = std::move(previous_); }

db::deadline earliest(const db::deadline& a, const db::deadline& b) noexcept {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

db::wait_hooks fiber_wait_hooks() {
    db::wait_hooks hooks;
    hooks.sleep_for = [](std::chrono::nanoseconds duration) { fiber::current().sleep_for(duration); };
    hooks.wait_readable = [](int fd) { fiber::current().wait_readable(fd); };
    hooks.make_waker = [] { return fiber::current().make_waker(); };
    hooks.yield = [] { fiber::current().yield(); };
    hooks.watch_socket = [](int fd) { return fiber::current().watch_socket(fd); };
    hooks.run_later = [](std::chrono::nanoseconds delay, std::function<void()> task) {
        return fiber::current().run_later(delay, std::move(task));
    };
    return hooks;
}

}  // namespace atrium
