#include "server/worker_pool.hpp"

#include "fiber/runtime.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <exception>
#include <future>

namespace atrium::server {

struct worker_pool::impl {
    explicit impl(std::size_t threads) : pool(threads == 0 ? 1 : threads) {}
    boost::asio::thread_pool pool;
    std::atomic<std::size_t> queued{0};   // handed over, not started (GET /metrics)
    std::atomic<std::size_t> running{0};
    /// `fn` counted as queued, then running.
    void counted(const std::function<void()>& fn) {
        queued.fetch_sub(1, std::memory_order_relaxed);
        running.fetch_add(1, std::memory_order_relaxed);
        struct done {
            std::atomic<std::size_t>& running;
            ~done() { running.fetch_sub(1, std::memory_order_relaxed); }
        } guard{running};
        fn();
    }
};

std::size_t worker_pool::queued() const noexcept { return impl_->queued.load(std::memory_order_relaxed); }
std::size_t worker_pool::running() const noexcept { return impl_->running.load(std::memory_order_relaxed); }

worker_pool::worker_pool(std::size_t threads) : impl_(std::make_unique<impl>(threads)) {}

worker_pool::~worker_pool() { join(); }

void worker_pool::join() { impl_->pool.join(); }

void worker_pool::run(const std::function<void()>& fn) {
    std::exception_ptr error;
    const fiber::fiber_yield* yield = fiber::current_yield();
    if (yield == nullptr) {
        // Not on a fiber: an ordinary blocking hand-over.
        std::promise<void> done;
        impl_->queued.fetch_add(1, std::memory_order_relaxed);
        boost::asio::post(impl_->pool, [&] {
            // On a worker thread, never a fiber: catch (...) cannot meet a forced_unwind here.
            try {
                impl_->counted(fn);
                done.set_value();
            } catch (...) {
                done.set_exception(std::current_exception());
            }
        });
        done.get_future().get();
        return;
    }
    boost::asio::async_initiate<const fiber::fiber_yield&, void()>(
        [&](auto handler) {
            // Keeps the fiber's io_context running while the job is away.
            auto home = boost::asio::prefer(yield->get_executor(), boost::asio::execution::outstanding_work.tracked);
            impl_->queued.fetch_add(1, std::memory_order_relaxed);
            boost::asio::post(impl_->pool, [this, &fn, &error, home, handler = std::move(handler)]() mutable {
                try {  // on a worker thread, never a fiber
                    impl_->counted(fn);
                } catch (...) {
                    error = std::current_exception();
                }
                boost::asio::post(home, std::move(handler));
            });
        },
        *yield);
    if (error) std::rethrow_exception(error);
}

namespace {
std::atomic<worker_pool*> installed_pool{nullptr};
}  // namespace

worker_pool* set_blocking_pool(worker_pool* pool) noexcept { return installed_pool.exchange(pool); }

void run_blocking_void(const std::function<void()>& fn) {
    if (auto* pool = installed_pool.load()) {
        pool->run(fn);
    } else {
        fn();
    }
}

}  // namespace atrium::server
