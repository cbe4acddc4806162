#pragma once
/// @file
/// @brief The task queue's workers inside atriumd (issue 22): `queue.workers`
/// fibers that take ir.queue tasks and run them (modules/ir/queue.hpp), plus one
/// fiber that hears about new tasks from other processes: LISTEN on
/// PostgreSQL, the database's shared change counter on SQLite. Calls of this
/// process wake the workers directly (wake(), from the dispatcher's drain of
/// the fiber's task list). A worker with nothing due sleeps until the next
/// scheduled task or lease expiry, at most the safety poll (`queue.poll`).
/// Every `cleanup_interval` one worker purges done tasks older than
/// `queue.keep_done` in bounded batches. /metrics gets the queue's depth by
/// state (pending, running, failed) (counted by a fiber every `depth_interval`, read-only: a scrape never
/// queries the database) and the busy workers of this process.

#include "modules/ir/queue.hpp"
#include "util/metrics.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}
namespace atrium::db {
class database;
}
namespace atrium::fiber {
class waker;
}

namespace atrium::server {

struct config;

struct queue_worker_options {
    int workers = 1;
    modules::ir::queue_settings task;
    std::chrono::milliseconds poll{5000};  ///< safety poll
    /// PostgreSQL: `postgresql://…/<dbname>` to LISTEN on; empty: the change counter.
    std::string listen_dsn;
    /// How the counter is watched on SQLite (a load of a shared page, no system call).
    std::chrono::milliseconds counter_check{50};
    /// How often done tasks older than task.keep_done are purged (from the
    /// configuration: keep_done, between 1 and 60 seconds).
    std::chrono::milliseconds cleanup_interval{60000};
    /// How often the depth by state is counted for /metrics.
    std::chrono::milliseconds depth_interval{2000};
};

/// The options `[queue]` and `[database]` of `cfg` give (atriumd and atrium-worker).
queue_worker_options queue_options_from(const config& cfg);

class queue_workers {
public:
    queue_workers(std::shared_ptr<db::database> database, queue_worker_options options);
    queue_workers(const queue_workers&) = delete;
    queue_workers& operator=(const queue_workers&) = delete;

    /// Spawns the workers and the listener on `io` (nothing when workers is 0).
    void start(boost::asio::io_context& io);
    /// Wakes the waiting workers; thread-safe.
    void wake() noexcept;
    /// Ends the fibers at their next wake-up (a task being run finishes first);
    /// call on the io thread, then drain it.
    void stop() noexcept;
    /// Tasks this process's workers finished (done), for logs and tests.
    std::uint64_t done() const noexcept { return done_.load(); }
    /// Workers running a task now.
    int busy() const noexcept { return busy_.load(); }
    /// Every fiber start() spawned has returned (after stop(): the drain is over).
    bool finished() const noexcept { return alive_.load() == 0; }
    /// After stop(), on the io thread with `io` no longer running: runs `io`
    /// until every fiber of start() has returned (tasks in hand finished) or
    /// `limit` has passed; false if some are still running then. Such a task
    /// fiber must not be unwound (its transaction would wait for the database
    /// while unwinding): the caller ends the process instead (std::_Exit), as
    /// a crash would, and the task's lease expires for another worker.
    bool drain(boost::asio::io_context& io, std::chrono::steady_clock::duration limit);

private:
    void work(const std::string& owner);
    void listen();
    void count_depth();
    void maybe_purge(const std::string& owner);
    void wait(std::uint64_t seen, std::chrono::milliseconds timeout);

    std::shared_ptr<db::database> database_;
    queue_worker_options options_;
    std::mutex mutex_;
    std::uint64_t generation_ = 0;  // moves on every wake()
    std::vector<std::shared_ptr<fiber::waker>> waiting_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> listener_socket_{-1};
    std::atomic<std::uint64_t> done_{0};
    std::atomic<int> busy_{0};
    std::atomic<int> alive_{0};  // fibers of start() not yet returned
    std::atomic<std::int64_t> last_purge_{0};  // steady_clock ticks of the last purge
    struct depth {
        std::atomic<double> pending{0}, running{0}, failed{0};
    } depth_;
    metrics::collector_handle figures_;  // last member: unregistered first
};

}  // namespace atrium::server
