#pragma once
/// @file
/// @brief The fiber runtime on Asio: fibers on `boost::asio::spawn`, each
/// owning its own `fiber::context` (its waiter and fiber-local slots: the
/// transaction layer's stack, task queue and default TPC manager live there).
///
/// How "current" stays right (dependencies.md §1, mode A): every fiber is
/// spawned on a `ctx_executor`, an executor wrapper that installs the fiber's
/// context (`fiber::exchange_current`) around each handler it runs and restores
/// the previous one afterwards. Every resumption of a fiber is such a handler,
/// so `fiber::current()` is the fiber's own context after every suspension,
/// without any code at the suspension points. The wrapper also installs the
/// context while it *destroys* a handler it never ran: when an io_context is
/// destroyed with fibers still suspended, Boost.Context unwinds them (with
/// `forced_unwind`) from inside such a destruction, so scope destructors on the
/// unwinding fiber still pop from the fiber's own stack.
///
/// Run one io_context per thread: a fiber then never migrates between threads.
///
/// Every `catch (...)` on a fiber path must first call
/// `fiber::rethrow_if_unwinding()` (fiber/unwind.hpp), or the process aborts.

#include "fiber/context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace boost::asio {
template <typename Executor>
class basic_yield_context;
}  // namespace boost::asio

namespace atrium::fiber {

namespace detail {

/// Installs a fiber context (nullptr = the thread default) for its lifetime.
class install_context {
public:
    explicit install_context(fiber::context* context) noexcept : previous_(exchange_current(context)) {}
    ~install_context() { exchange_current(previous_); }
    install_context(const install_context&) = delete;
    install_context& operator=(const install_context&) = delete;

private:
    fiber::context* previous_;
};

/// The function object a ctx_executor hands to its inner executor: runs (and
/// destroys) the wrapped function with the fiber context installed.
template <class F>
class context_invoker {
public:
    template <class G>
    context_invoker(fiber::context* context, G&& function) : context_(context), function_(std::forward<G>(function)) {}
    context_invoker(context_invoker&& other) noexcept(std::is_nothrow_move_constructible_v<F>)
        : context_(other.context_), function_(std::move(other.function_)) {
        other.function_.reset();  // a moved-from handler needs no context to die
    }
    context_invoker(const context_invoker&) = delete;
    context_invoker& operator=(const context_invoker&) = delete;
    context_invoker& operator=(context_invoker&&) = delete;

    /// A handler that never ran (its io_context was destroyed) may own a
    /// suspended fiber: destroying it unwinds that fiber, so do it inside the context.
    ~context_invoker() {
        if (function_) {
            install_context installed(context_);
            function_.reset();
        }
    }

    void operator()() {
        install_context installed(context_);
        // The handler is destroyed before the context is restored: destroying
        // a spawn resumer may finish (and unwind) the fiber.
        struct reset_on_exit {
            std::optional<F>& function;
            ~reset_on_exit() { function.reset(); }
        } reset{function_};
        std::move (*function_)();
    }

private:
    fiber::context* context_;
    std::optional<F> function_;
};

}  // namespace detail

/// @brief An Asio executor wrapper that runs every handler with `context`
/// installed as the current fiber context and restores the previous context
/// afterwards. Properties are forwarded to the inner executor.
template <class Inner>
class ctx_executor {
public:
    using inner_executor_type = Inner;

    ctx_executor(Inner inner, fiber::context* context) noexcept(std::is_nothrow_move_constructible_v<Inner>)
        : inner_(std::move(inner)), context_(context) {}

    /// Converts from a wrapper of a convertible inner executor (same context).
    template <class Other>
        requires(!std::is_same_v<Other, Inner> && std::is_convertible_v<const Other&, Inner>)
    ctx_executor(const ctx_executor<Other>& other) noexcept(std::is_nothrow_constructible_v<Inner, const Other&>)
        : inner_(other.inner()), context_(other.context()) {}

    const Inner& inner() const noexcept { return inner_; }
    fiber::context* context() const noexcept { return context_; }

    template <class F>
    void execute(F&& function) const {
        inner_.execute(detail::context_invoker<std::decay_t<F>>(context_, std::forward<F>(function)));
    }

    template <class Property>
        requires boost::asio::can_query<const Inner&, const Property&>::value
    decltype(auto) query(const Property& property) const
        noexcept(boost::asio::is_nothrow_query<const Inner&, const Property&>::value) {
        return boost::asio::query(inner_, property);
    }

    template <class Property>
        requires boost::asio::can_require<const Inner&, const Property&>::value
    auto require(const Property& property) const
        -> ctx_executor<std::decay_t<typename boost::asio::require_result<const Inner&, const Property&>::type>> {
        return {boost::asio::require(inner_, property), context_};
    }

    template <class Property>
        requires boost::asio::can_prefer<const Inner&, const Property&>::value
    auto prefer(const Property& property) const
        -> ctx_executor<std::decay_t<typename boost::asio::prefer_result<const Inner&, const Property&>::type>> {
        return {boost::asio::prefer(inner_, property), context_};
    }

    friend bool operator==(const ctx_executor& a, const ctx_executor& b) noexcept {
        return a.context_ == b.context_ && a.inner_ == b.inner_;
    }

private:
    Inner inner_;
    fiber::context* context_;
};

/// The executor every fiber of an io_context runs on.
using fiber_executor = ctx_executor<boost::asio::io_context::executor_type>;
/// The yield context a fiber body may use for Asio operations (server code only).
using fiber_yield = boost::asio::basic_yield_context<fiber_executor>;

/// Default stack of a fiber: 256 KiB, with a guard page (overflow = crash, not corruption).
/// AddressSanitizer's redzones make frames several times larger (a JSON value
/// nested to the codec's depth cap overflows 256 KiB there): 1 MiB under it.
#ifdef BOOST_USE_ASAN
inline constexpr std::size_t default_fiber_stack_size = 1024 * 1024;
#else
inline constexpr std::size_t default_fiber_stack_size = 256 * 1024;
#endif

/// @brief How a spawned fiber waits: suspends the fiber, never the thread.
class asio_fiber_waiter final : public waiter {
public:
    asio_fiber_waiter() noexcept = default;

    /// Binds the fiber's yield context (done by spawn_fiber when the fiber starts).
    void bind(const fiber_yield& yield) noexcept { yield_ = &yield; }
    /// The fiber's yield context, nullptr before the fiber started.
    const fiber_yield* yield_context() const noexcept { return yield_; }

    /// Suspends the fiber on a steady_timer. Must be called from the fiber itself.
    void sleep_for(std::chrono::nanoseconds duration) override;
    /// Lets the other ready handlers of the io_context run (asio::post(yield)),
    /// then resumes. Must be called from the fiber itself.
    void yield() override;
    /// Suspends the fiber until `fd` is readable (a posix::stream_descriptor
    /// that is released, never closed: the fd belongs to the database library).
    void wait_readable(int fd) override;
    /// A watch of `fd` on the fiber's io_context (fiber/socket_watch.hpp).
    /// Must be called from the fiber itself.
    std::unique_ptr<socket_watch> watch_socket(int fd) override;
    /// Runs `task` on the fiber's io_context after `delay`, on a timer of its
    /// own (the task outlives the fiber). Never if the io_context dies first.
    bool run_later(std::chrono::nanoseconds delay, std::function<void()> task) override;
    /// A waker whose wait() suspends the fiber on a timer that wake() cancels
    /// from any thread (posted to the fiber's io_context).
    std::shared_ptr<waker> make_waker() override;

    /// Records the fiber's stack (done by spawn_fiber's stack allocator).
    void bind_stack(void* top, std::size_t size) noexcept {
        stack_top_ = static_cast<char*>(top);
        stack_size_ = size;
    }
    /// Gives the pages of the fiber's stack below the caller's frame back to
    /// the kernel (they read as zeros when touched again). Must be called from
    /// the fiber itself; costs a syscall and later page faults, so only for a
    /// fiber about to stay suspended for long.
    void release_unused_stack() noexcept;

private:
    const fiber_yield* yield_ = nullptr;
    char* stack_top_ = nullptr;
    std::size_t stack_size_ = 0;
};

/// The yield context of the calling fiber; nullptr outside fibers started by spawn_fiber.
const fiber_yield* current_yield() noexcept;

/// asio_fiber_waiter::release_unused_stack for the calling fiber; no-op outside
/// fibers started by spawn_fiber.
void release_unused_fiber_stack() noexcept;

/// Called once when a fiber ends: nullptr, or the exception its body threw.
using fiber_completion = std::function<void(std::exception_ptr)>;

/// @brief Spawns `body` on a new fiber of `io` with its own fiber::context and a
/// `protected_fixedsize_stack(stack_size)`. `on_complete` gets the body's
/// exception (or nullptr); it runs on the fiber, with its context installed, and
/// must not throw (an exception it throws is logged). The body starts at once if
/// called from a handler running on `io`'s thread, else when `io` runs.
/// A body that returns while a fiber-local value refuses it (transaction
/// references left on its stack: local_value::check_body_finished) ends with
/// that value's exception (a `std::logic_error`). If `io` is destroyed while the fiber is suspended, the
/// fiber is unwound (RAII runs) and `on_complete` is never called.
void spawn_fiber(boost::asio::io_context& io, std::function<void()> body, fiber_completion on_complete,
                 std::size_t stack_size = default_fiber_stack_size);

/// @brief Same, with a completion that reports the body's exception
/// (fiber::report_error: the log); never the detached completion token, which swallows it.
void spawn_fiber(boost::asio::io_context& io, std::function<void()> body,
                 std::size_t stack_size = default_fiber_stack_size);

/// How many fibers spawned on `io` have not ended (finished or unwound).
std::size_t live_fibers(boost::asio::io_context& io);

/// @brief Runs `io` on the calling thread until every fiber spawned on it has
/// ended, or until `limit` has passed; returns how many are still alive. Call
/// it before destroying an io_context (no other thread running it): a fiber
/// still suspended then is destroyed with the io_context, unwound with
/// forced_unwind while the io_context's services are shutting down.
std::size_t drain(boost::asio::io_context& io, std::chrono::steady_clock::duration limit);

/// Reports "fiber <what> failed: <type>: <message>" (error level) when `error` is set.
void log_fiber_exception(std::exception_ptr error, std::string_view what);

}  // namespace atrium::fiber
