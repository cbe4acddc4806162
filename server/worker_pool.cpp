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
};

worker_pool::worker_pool(std::size_t threads) : impl_(std::make_unique<impl>(threads)) {}

worker_pool::~worker_pool() { join(); }

void worker_pool::join() { impl_->pool.join(); }

void worker_pool::run(const std::function<void()>& fn) {
    std::exception_ptr error;
    const fiber::fiber_yield* yield = fiber::current_yield();
    if (yield == nullptr) {
        // Not on a fiber: an ordinary blocking hand-over.
        std::promise<void> done;
        boost::asio::post(impl_->pool, [&] {
            // On a worker thread, never a fiber: catch (...) cannot meet a forced_unwind here.
            try {
                fn();
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
            boost::asio::post(impl_->pool, [&fn, &error, home, handler = std::move(handler)]() mutable {
                try {  // on a worker thread, never a fiber
                    fn();
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
