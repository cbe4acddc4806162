#include "fiber/runtime.hpp"

#include "fiber/report.hpp"
#include "fiber/socket_watch.hpp"
#include "fiber/unwind.hpp"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(BOOST_USE_UCONTEXT)
// Sanitizer builds switch Boost.Context to its ucontext implementation with
// BOOST_USE_ASAN, so that every fiber switch is announced to ASan
// (__sanitizer_start/finish_switch_fiber) and stack unpoisoning on throw works on
// fiber stacks. Debian's libboost_context is built for fcontext and lacks the
// two out-of-line pieces of the ucontext implementation: the per-thread
// "current activation record" and its Schwarz-counter initializer. Defined here.
namespace boost::context::detail {

namespace {
thread_local fiber_activation_record* current_record = nullptr;
thread_local std::size_t initializer_count = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
    if (initializer_count++ == 0) current_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
    if (--initializer_count == 0) {
        delete current_record;
        current_record = nullptr;
    }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
    thread_local fiber_activation_record_initializer initializer;
    return current_record;
}

}  // namespace boost::context::detail
#endif

namespace atrium::fiber {

namespace {

using fiber_timer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                                      fiber_executor>;

/// How many fibers of an io_context have not ended (drain() waits for them).
/// Services are destroyed only after every service has shut down, so a fiber
/// unwound by the io_context's destruction still finds its counter.
class fiber_count final : public boost::asio::execution_context::service {
public:
    static inline boost::asio::execution_context::id id;
    explicit fiber_count(boost::asio::io_context& io) : boost::asio::execution_context::service(io) {}
    std::atomic<std::size_t> live{0};

private:
    void shutdown() override {}
};

/// Everything a fiber owns. Allocated before the spawn (the executor needs the
/// context's address) and owned by the fiber's function object, so it dies
/// with the fiber, also when the fiber is unwound.
struct fiber_state {
    explicit fiber_state(fiber_count& count) : counted(count) { ++counted.live; }
    ~fiber_state() { --counted.live; }
    fiber_state(const fiber_state&) = delete;
    fiber_state& operator=(const fiber_state&) = delete;

    fiber_count& counted;
    asio_fiber_waiter waiter;
    fiber::context context{&waiter};
    std::function<void()> body;
};

/// protected_fixedsize_stack that tells the fiber's waiter where its stack is.
class recorded_stack {
public:
    recorded_stack(std::size_t size, asio_fiber_waiter& waiter) : inner_(size), waiter_(&waiter) {}
    boost::context::stack_context allocate() {
        auto context = inner_.allocate();
        waiter_->bind_stack(context.sp, context.size);
        return context;
    }
    void deallocate(boost::context::stack_context& context) noexcept { inner_.deallocate(context); }

private:
    boost::context::protected_fixedsize_stack inner_;
    asio_fiber_waiter* waiter_;  // the fiber_state outlives the stack
};

void run_body(fiber_state& state, const fiber_yield& yield) {
    state.waiter.bind(yield);
    state.body();
    state.context.check_body_finished();
}

void check_own_fiber(const asio_fiber_waiter* waiter, const char* operation) {
    if (waiter->yield_context() == nullptr) {
        throw std::logic_error(std::string("asio_fiber_waiter::") + operation + ": the fiber has not started");
    }
    if (current().waiter() != waiter) {
        throw std::logic_error(std::string("asio_fiber_waiter::") + operation +
                               ": called from outside the fiber it belongs to");
    }
}

}  // namespace

void asio_fiber_waiter::sleep_for(std::chrono::nanoseconds duration) {
    check_own_fiber(this, "sleep_for");
    fiber_timer timer(yield_->get_executor());
    timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(duration));
    timer.async_wait(*yield_);
}

void asio_fiber_waiter::yield() {
    check_own_fiber(this, "yield");
    boost::asio::post(*yield_);
}

void asio_fiber_waiter::wait_readable(int fd) {
    check_own_fiber(this, "wait_readable");
    using descriptor_type = boost::asio::posix::basic_stream_descriptor<fiber_executor>;
    descriptor_type descriptor(yield_->get_executor(), fd);
    // The fd belongs to the database library: release it, never close it, even
    // when the fiber is unwound while waiting.
    struct releaser {
        descriptor_type& d;
        ~releaser() { d.release(); }
    } release_on_exit{descriptor};
    boost::system::error_code error;
    descriptor.async_wait(boost::asio::posix::descriptor_base::wait_read, (*yield_)[error]);
    if (error) throw boost::system::system_error(error, "waiting for a database socket");
}

std::unique_ptr<socket_watch> asio_fiber_waiter::watch_socket(int fd) {
    check_own_fiber(this, "watch_socket");
    return make_socket_watch(yield_->get_executor().inner().context(), fd);
}

bool asio_fiber_waiter::run_later(std::chrono::nanoseconds delay, std::function<void()> task) {
    if (!yield_) return false;
    using plain_timer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                          boost::asio::wait_traits<std::chrono::steady_clock>,
                                                          boost::asio::io_context::executor_type>;
    auto timer = std::make_shared<plain_timer>(yield_->get_executor().inner());
    timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    timer->async_wait([timer, task = std::move(task)](const boost::system::error_code&) {
        try {
            task();
        } catch (const std::exception& e) {
            report_error(std::string("deferred task failed: ") + e.what());
        }
    });
    return true;
}

// noinline: the frame whose address bounds the release is this one.
__attribute__((noinline)) void asio_fiber_waiter::release_unused_stack() noexcept {
    if (!stack_top_) return;
    static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    char marker = 0;
    const auto here = reinterpret_cast<std::uintptr_t>(&marker);
    const auto bottom = reinterpret_cast<std::uintptr_t>(stack_top_) - stack_size_;  // the guard page included
    // Keep the page madvise's own call frame lands on.
    const std::uintptr_t end = (here - 512) & ~(page - 1);
    if (here < bottom || here > reinterpret_cast<std::uintptr_t>(stack_top_) || end <= bottom) return;
    ::madvise(reinterpret_cast<void*>(bottom), end - bottom, MADV_DONTNEED);
}

void release_unused_fiber_stack() noexcept {
    if (auto* waiter = dynamic_cast<asio_fiber_waiter*>(current().waiter())) waiter->release_unused_stack();
}

namespace {

class fiber_waker final : public waker, public std::enable_shared_from_this<fiber_waker> {
public:
    explicit fiber_waker(const fiber_yield& yield) : yield_(yield), io_(yield.get_executor().inner()) {}

    bool wait(std::chrono::nanoseconds timeout) override {
        fiber_timer timer(yield_.get_executor());
        timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
        {
            std::lock_guard lock(mutex_);
            if (woken_) return true;
            timer_ = &timer;
        }
        // The timer dies with this frame, also when the fiber is unwound.
        struct forget {
            fiber_waker& self;
            ~forget() {
                std::lock_guard lock(self.mutex_);
                self.timer_ = nullptr;
            }
        } forget_on_exit{*this};
        boost::system::error_code ignored;
        timer.async_wait(yield_[ignored]);
        std::lock_guard lock(mutex_);
        return woken_;
    }

    bool resumes_on_this_thread() const noexcept override { return io_.running_in_this_thread(); }

    void wake() noexcept override {
        std::lock_guard lock(mutex_);
        if (woken_) return;
        woken_ = true;
        if (!timer_) return;  // not waiting yet: wait() will see woken_
        if (io_.running_in_this_thread()) {
            timer_->cancel();  // the timer's own thread: one hop less
            return;
        }
        try {
            // The timer belongs to the fiber's thread: cancel it there. Only
            // io_ is used here: the fiber may be gone by the time wake() runs.
            boost::asio::post(io_, [self = shared_from_this()] {
                std::lock_guard lock(self->mutex_);
                if (self->timer_) self->timer_->cancel();
            });
        } catch (const std::exception& e) {
            report_error(std::string("fiber waker: cannot post the wake-up: ") + e.what());
        }
    }

private:
    const fiber_yield& yield_;  // only used by wait(), on the fiber
    boost::asio::io_context::executor_type io_;
    std::mutex mutex_;
    bool woken_ = false;
    fiber_timer* timer_ = nullptr;
};

}  // namespace

std::shared_ptr<waker> asio_fiber_waiter::make_waker() {
    check_own_fiber(this, "make_waker");
    return std::make_shared<fiber_waker>(*yield_);
}

const fiber_yield* current_yield() noexcept {
    const auto* waiter = dynamic_cast<const asio_fiber_waiter*>(current().waiter());
    return waiter ? waiter->yield_context() : nullptr;
}

void log_fiber_exception(std::exception_ptr error, std::string_view what) {
    if (!error) return;
    std::string message = "fiber ";
    if (!what.empty()) message.append(what).append(" ");
    message += "failed: " + describe(error);
    report_error(message);
}

void spawn_fiber(boost::asio::io_context& io, std::function<void()> body, fiber_completion on_complete,
                 std::size_t stack_size) {
    if (!body) throw std::invalid_argument("spawn_fiber: empty body");
    auto state = std::make_unique<fiber_state>(boost::asio::use_service<fiber_count>(io));
    state->body = std::move(body);
    const fiber_executor executor(io.get_executor(), &state->context);
    recorded_stack stack(stack_size, state->waiter);
    boost::asio::spawn(
        executor, std::allocator_arg, std::move(stack),
        [state = std::move(state)](fiber_yield yield) { run_body(*state, yield); },
        [on_complete = std::move(on_complete)](std::exception_ptr error) {
            if (!on_complete) {
                log_fiber_exception(error, "");
                return;
            }
            try {
                on_complete(error);
            } catch (...) {
                fiber::rethrow_if_unwinding();
                log_fiber_exception(std::current_exception(), "completion handler");
            }
        });
}

std::size_t live_fibers(boost::asio::io_context& io) {
    return boost::asio::use_service<fiber_count>(io).live.load();
}

std::size_t drain(boost::asio::io_context& io, std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (live_fibers(io) != 0) {
        // 0: out of work (a fiber left waits for nothing), stopped, or the deadline.
        if (io.run_one_until(deadline) == 0) break;
    }
    return live_fibers(io);
}

void spawn_fiber(boost::asio::io_context& io, std::function<void()> body, std::size_t stack_size) {
    spawn_fiber(
        io, std::move(body), [](std::exception_ptr error) { log_fiber_exception(error, ""); }, stack_size);
}

}  // namespace atrium::fiber
