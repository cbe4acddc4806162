#include "server/queue_workers.hpp"

#include "database/database.hpp"
#include "database/postgresql/pg_listener.hpp"
#include "fiber/runtime.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <sys/socket.h>
#include <unistd.h>

namespace atrium::server {

namespace ir = modules::ir;

queue_workers::queue_workers(std::shared_ptr<db::database> database, queue_worker_options options)
    : database_(std::move(database)), options_(std::move(options)) {}

void queue_workers::start(boost::asio::io_context& io) {
    if (options_.workers <= 0) return;
    const std::string prefix = "pid " + std::to_string(::getpid()) + " worker ";
    for (int i = 0; i < options_.workers; ++i)
        fiber::spawn_fiber(io, [this, owner = prefix + std::to_string(i)] { work(owner); });
    fiber::spawn_fiber(io, [this] { listen(); });
}

void queue_workers::wake() noexcept {
    std::vector<std::shared_ptr<fiber::waker>> woken;
    {
        std::lock_guard lock(mutex_);
        ++generation_;
        woken.swap(waiting_);
    }
    for (const auto& w : woken) w->wake();
}

void queue_workers::stop() noexcept {
    stopping_ = true;
    wake();
    // The listener waits for its socket to be readable: a shut-down socket is.
    if (const int socket = listener_socket_.load(); socket >= 0) ::shutdown(socket, SHUT_RDWR);
}

void queue_workers::wait(std::uint64_t seen, std::chrono::milliseconds timeout) {
    auto waker = fiber::current().make_waker();
    {
        std::lock_guard lock(mutex_);
        if (generation_ != seen || stopping_) return;  // woken meanwhile: look again
        waiting_.push_back(waker);
    }
    waker->wait(timeout);
    std::lock_guard lock(mutex_);
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), waker), waiting_.end());
}

void queue_workers::work(const std::string& owner) {
    while (!stopping_) {
        std::uint64_t seen = 0;
        {
            std::lock_guard lock(mutex_);
            seen = generation_;
        }
        auto timeout = options_.poll;
        try {
            // A read-only look first: an idle worker never takes SQLite's write lock.
            const auto next = ir::next_task_in(database_);
            if (next && next->count() == 0) {
                int ran = 0;
                while (!stopping_) {
                    auto task = ir::take_task(database_, owner, options_.task);
                    if (!task) break;
                    ++ran;
                    if (ir::run_task(database_, *task, options_.task) == ir::task_outcome::done) ++done_;
                    // Tasks the task queued: this worker takes them next; wake the others too.
                    bool queued = false;
                    drain_tasks([&](std::int64_t) { queued = true; });
                    if (queued) wake();
                }
                if (ran > 0) continue;  // look again at once
                // Due, but other workers hold them (SKIP LOCKED): look again soon.
                timeout = std::min(timeout, std::chrono::milliseconds(100));
            } else if (next) {
                // A scheduled task or an expiring lease: wake up when it is due.
                timeout = std::min(timeout, *next + std::chrono::milliseconds(1));
            }
        } catch (const std::exception& error) {
            // A database that cannot serve now: try again after a pause.
            log_warning(std::string("queue worker ") + owner + ": " + error.what());
            fiber::current().sleep_for(std::chrono::seconds(1));
            continue;
        }
        wait(seen, timeout);
    }
}

void queue_workers::listen() {
    if (options_.listen_dsn.empty()) {
        // SQLite: other processes move the database's queue counter on commit.
        std::shared_ptr<db::shared_counter> counter;
        try {
            counter = database_->change_counter(ir::queue_counter);
        } catch (const std::exception& error) {
            log_warning(std::string("queue: no change counter, tasks of other processes wait for the poll: ") +
                        error.what());
        }
        if (!counter) return;
        auto last = counter->load();
        while (!stopping_) {
            fiber::current().sleep_for(options_.counter_check);
            if (const auto now = counter->load(); now != last) {
                last = now;
                wake();
            }
        }
        return;
    }
    while (!stopping_) {
        try {
            db::pg_listener listener(options_.listen_dsn, ir::queue_channel);
            listener_socket_ = listener.socket();
            struct forget_socket {
                std::atomic<int>& socket;
                ~forget_socket() { socket = -1; }
            } registered{listener_socket_};
            wake();  // what was queued while nobody listened
            while (!stopping_) {
                fiber::current().wait_readable(listener.socket());
                if (stopping_) break;
                if (!listener.drain().empty()) wake();
            }
        } catch (const std::exception& error) {
            if (stopping_) break;
            log_warning(std::string("queue: LISTEN lost, workers poll until it is back: ") + error.what());
        }
        if (!stopping_) fiber::current().sleep_for(std::chrono::seconds(1));
    }
}

}  // namespace atrium::server
