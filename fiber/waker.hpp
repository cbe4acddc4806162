#pragma once
// A one-shot wake-up: one waiter suspends in wait(), any thread may call
// wake() once (before or during the wait). The fiber runtime makes wakers that
// suspend the fiber; make_thread_waker() blocks the thread.

#include <chrono>
#include <memory>

namespace atrium::fiber {

class waker {
public:
    virtual ~waker() = default;
    /// Suspends the caller until wake() or until `timeout` has passed; true if
    /// woken (also when wake() came first). Called at most once.
    virtual bool wait(std::chrono::nanoseconds timeout) = 0;
    /// Thread-safe; the first call counts.
    virtual void wake() noexcept = 0;
    /// True if the waiter resumes on the calling thread once the caller lets
    /// it run (a fiber of the same io_context); false by default.
    virtual bool resumes_on_this_thread() const noexcept { return false; }
};

/// A waker that blocks the calling thread (a condition variable).
std::shared_ptr<waker> make_thread_waker();

}  // namespace atrium::fiber
