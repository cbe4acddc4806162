#pragma once
// The fiber context: the state SPEC §1.1 puts "per thread" but that Atrium
// keeps per fiber (per request) — the transaction stack, the task queue and
// the default two-phase-commit manager. Code outside any fiber (tests, CLI)
// gets a default context of its thread. No Asio here: a fiber runtime
// installs a context with fiber_context_scope around each resumption and
// provides a fiber_waiter so synchronous code can wait without blocking.

#include "database/database.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace atrium {

class transaction;
namespace tpc {
class transaction_manager;
}

/// How the current fiber waits. The thread default blocks the thread.
class fiber_waiter {
public:
    virtual ~fiber_waiter() = default;
    virtual void sleep_for(std::chrono::nanoseconds duration) = 0;
    /// Lets other fibers of the thread run, then resumes.
    virtual void yield() = 0;
    /// Suspends until `fd` is readable (a database socket). The thread default polls.
    virtual void wait_readable(int fd);
    /// A watch of `fd` on this fiber's event loop; the thread default has
    /// none (nullptr: wait_readable serves).
    virtual std::unique_ptr<db::socket_watch> watch_socket(int fd);
    /// db::wait_hooks::run_later on this fiber's event loop; the thread
    /// default has none (false).
    virtual bool run_later(std::chrono::nanoseconds delay, std::function<void()> task);
    /// A waker whose wait() suspends this fiber. The thread default blocks the thread.
    virtual std::shared_ptr<db::waker> make_waker();
};

class fiber_context {
public:
    explicit fiber_context(fiber_waiter* waiter = nullptr);
    ~fiber_context();
    fiber_context(const fiber_context&) = delete;
    fiber_context& operator=(const fiber_context&) = delete;

    /// References to started transactions, top = back (SPEC §1.1).
    std::vector<std::shared_ptr<transaction>>& stack() noexcept { return stack_; }
    /// Ids of background tasks queued during work (belongs to the fiber, SPEC §1.1).
    std::vector<std::int64_t>& tasks() noexcept { return tasks_; }
    /// The fiber's default Zope-style transaction manager (SPEC §2.1), created on first use.
    tpc::transaction_manager& manager();

    void sleep_for(std::chrono::nanoseconds duration);
    void yield();
    void wait_readable(int fd);
    std::unique_ptr<db::socket_watch> watch_socket(int fd);
    bool run_later(std::chrono::nanoseconds delay, std::function<void()> task);
    std::shared_ptr<db::waker> make_waker();
    fiber_waiter* waiter() const noexcept { return waiter_; }

private:
    fiber_waiter* waiter_;
    std::vector<std::shared_ptr<transaction>> stack_;
    std::vector<std::int64_t> tasks_;
    std::unique_ptr<tpc::transaction_manager> manager_;
};

/// The calling fiber's context, or the thread's default one. Never inlined, so
/// the thread-local behind it is read afresh after every suspension.
[[gnu::noinline]] fiber_context& current_fiber() noexcept;

/// Installs `context` as current (nullptr = the thread default); returns the previous one.
[[gnu::noinline]] fiber_context* exchange_current_fiber(fiber_context* context) noexcept;

/// Wait hooks for the database layer that wait through the current fiber
/// (so a busy SQLite database suspends the fiber, not its thread).
db::wait_hooks fiber_wait_hooks();

/// Installs a context for the lifetime of the scope (a fiber runtime wraps each
/// handler it runs in one of these).
class fiber_context_scope {
public:
    explicit fiber_context_scope(fiber_context& context) noexcept
        : previous_(exchange_current_fiber(&context)) {}
    ~fiber_context_scope() { exchange_current_fiber(previous_); }
    fiber_context_scope(const fiber_context_scope&) = delete;
    fiber_context_scope& operator=(const fiber_context_scope&) = delete;

private:
    fiber_context* previous_;
};

}  // namespace atrium
