#pragma once
/// @file
/// @brief One io_context per thread: a fiber never leaves the thread of its
/// io_context. Closing drains each io_context (fiber::drain) before destroying
/// it, so no fiber is destroyed while suspended unless it outlives the limit.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace atrium::fiber {

class io_context_pool {
public:
    /// `size` io_contexts (at least one); `name` prefixes the failures reported
    /// by their threads ("<name>: a handler failed: ...").
    io_context_pool(std::size_t size, std::string name);
    ~io_context_pool();  ///< close() with no grace: what is still suspended is unwound
    io_context_pool(const io_context_pool&) = delete;
    io_context_pool& operator=(const io_context_pool&) = delete;

    std::size_t size() const noexcept { return ios_.size(); }
    boost::asio::io_context& operator[](std::size_t index) { return *ios_[index]; }
    boost::asio::io_context& front() { return *ios_.front(); }

    /// Starts one thread per io_context, running it until stop().
    void start();
    /// True between start() and stop().
    bool started() const noexcept { return !threads_.empty(); }
    /// Lets the io_contexts run out of work, stops them and joins their threads. Idempotent.
    void stop();
    /// After stop(): runs each io_context on the calling thread until its fibers
    /// have ended, `limit` at most for each (fiber::drain).
    void drain(std::chrono::steady_clock::duration limit);
    /// After stop(): destroys the io_contexts, first to last (a fiber still
    /// suspended is unwound there). Idempotent.
    void destroy() noexcept;

private:
    void run(boost::asio::io_context& io);

    std::string name_;
    std::vector<std::unique_ptr<boost::asio::io_context>> ios_;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
};

}  // namespace atrium::fiber
