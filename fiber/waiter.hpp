#pragma once
// How code waits without knowing whether it runs on a fiber: the waiting
// interface a fiber runtime implements (fiber/asio_runtime.hpp suspends the
// fiber) and whose defaults block the calling thread (tests, command-line tools).

#include "fiber/waker.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace atrium::fiber {

/// A socket kept registered with the event loop of the thread that made it,
/// for as long as the watch lives: repeated waits on it register nothing.
/// Made by waiter::watch_socket; may be destroyed from any thread.
class socket_watch {
public:
    virtual ~socket_watch() = default;
    /// True when the calling fiber may wait on it: it runs on the watch's
    /// event loop, and that loop has not shut down.
    virtual bool usable_here() const noexcept = 0;
    /// Suspends the calling fiber until the socket is readable (at once if it
    /// already is). Only where usable_here().
    virtual void wait_readable() = 0;
};

/// How the current fiber waits. The defaults (and the thread default waiter)
/// block the thread.
class waiter {
public:
    virtual ~waiter() = default;
    virtual void sleep_for(std::chrono::nanoseconds duration) = 0;
    /// Lets other fibers of the thread run, then resumes.
    virtual void yield() = 0;
    /// Suspends until `fd` is readable (a database socket). The default polls.
    virtual void wait_readable(int fd);
    /// A watch of `fd` on this fiber's event loop; the default has none
    /// (nullptr: wait_readable serves).
    virtual std::unique_ptr<socket_watch> watch_socket(int fd);
    /// Runs `task` on this fiber's event loop after `delay` and returns true;
    /// the default has no event loop (false).
    virtual bool run_later(std::chrono::nanoseconds delay, std::function<void()> task);
    /// A waker whose wait() suspends this fiber. The default blocks the thread.
    virtual std::shared_ptr<waker> make_waker();
};

/// The waiter of contexts made without one: blocks the calling thread.
waiter& thread_waiter() noexcept;

}  // namespace atrium::fiber
