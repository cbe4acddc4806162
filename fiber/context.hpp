#pragma once
// The fiber context: what belongs to one fiber rather than to its thread — how
// it waits (its waiter) and its fiber-local slots (the transaction layer keeps
// the fiber's transaction stack in one). A fiber runtime installs the fiber's
// context around each resumption (context_scope); code outside any fiber gets
// a default context of its thread.

#include "fiber/waiter.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace atrium::fiber {

/// Base of a value kept in a fiber-local slot.
class local_value {
public:
    virtual ~local_value() = default;
    /// Called by a fiber runtime when the fiber's body has returned normally;
    /// throws to fail the fiber (a transaction left open on its stack).
    virtual void check_body_finished() const {}
};

class context {
public:
    /// nullptr: thread_waiter(), which blocks the thread.
    explicit context(fiber::waiter* waiter = nullptr);
    ~context();
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    fiber::waiter* waiter() const noexcept { return waiter_; }

    void sleep_for(std::chrono::nanoseconds duration) { waiter_->sleep_for(duration); }
    void yield() { waiter_->yield(); }
    void wait_readable(int fd) { waiter_->wait_readable(fd); }
    std::unique_ptr<socket_watch> watch_socket(int fd) { return waiter_->watch_socket(fd); }
    bool run_later(std::chrono::nanoseconds delay, std::function<void()> task) {
        return waiter_->run_later(delay, std::move(task));
    }
    std::shared_ptr<waker> make_waker() { return waiter_->make_waker(); }

    /// This context's value of slot T (a local_value), made on first use.
    template <class T>
    T& local() {
        static const std::size_t slot = next_slot();
        if (slot >= slots_.size()) slots_.resize(slot + 1);
        auto& value = slots_[slot];
        if (!value) value = std::make_unique<T>();
        return static_cast<T&>(*value);
    }

    /// local_value::check_body_finished() of every value made so far.
    void check_body_finished() const;

private:
    static std::size_t next_slot() noexcept;

    fiber::waiter* waiter_;
    std::vector<std::unique_ptr<local_value>> slots_;
};

/// The calling fiber's context, or the thread's default one. Never inlined, so
/// the thread-local behind it is read afresh after every suspension.
[[gnu::noinline]] context& current() noexcept;

/// Installs `installed` as current (nullptr = the thread default); returns the previous one.
[[gnu::noinline]] context* exchange_current(context* installed) noexcept;

/// Installs a context for the lifetime of the scope (a fiber runtime wraps each
/// handler it runs in one of these).
class context_scope {
public:
    explicit context_scope(context& installed) noexcept : previous_(exchange_current(&installed)) {}
    ~context_scope() { exchange_current(previous_); }
    context_scope(const context_scope&) = delete;
    context_scope& operator=(const context_scope&) = delete;

private:
    context* previous_;
};

}  // namespace atrium::fiber
