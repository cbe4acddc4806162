#pragma once
// The in-process queue for SQLite's single write lock. SQLite lets a waiting
// writer only poll (BEGIN IMMEDIATE → SQLITE_BUSY, sleep, retry), and a
// back-off of milliseconds is a hundred times the few hundred microseconds a
// write transaction holds the lock. Writers of one process therefore queue
// here first, FIFO, and the one that ends its transaction hands the turn
// straight to the next (a wake-up, no sleep). Writers of other processes still
// meet SQLITE_BUSY and the back-off.

#include "fiber/waker.hpp"

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

namespace atrium::db {

class sqlite_write_gate {
public:
    using make_waker_fn = std::function<std::shared_ptr<fiber::waker>()>;

    /// Takes the turn, waiting behind the writers queued before for at most
    /// `timeout` (through a waker from `make_waker`). False on timeout. If the
    /// wait throws (a fiber being unwound), the turn is not kept.
    bool acquire(const make_waker_fn& make_waker, std::chrono::nanoseconds timeout);
    /// Gives the turn to the first writer queued, else frees it. True if that
    /// writer resumes on the calling thread (waker::resumes_on_this_thread).
    bool release() noexcept;
    /// Gives the turn to the first writer queued if there is one (true), else
    /// keeps it (false): deciding and handing over in one step, so a waiter
    /// that times out in between cannot leave the turn free by surprise.
    bool pass_to_next() noexcept;

    /// Writers queued (for tests).
    std::size_t waiting() const;

private:
    struct waiter {
        std::shared_ptr<fiber::waker> wake_up;
        bool granted = false;
    };

    mutable std::mutex mutex_;
    bool held_ = false;
    std::list<std::shared_ptr<waiter>> queue_;
};

}  // namespace atrium::db
