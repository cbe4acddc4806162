#include "server/queue_workers.hpp"

#include "database/database.hpp"
#include "database/postgresql/pg_listener.hpp"
#include "fiber/runtime.hpp"
#include "modules/ir/queue_metrics.hpp"
#include "server/config.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <functional>
#include <sys/socket.h>
#include <unistd.h>

namespace atrium::server {

namespace ir = modules::ir;

queue_worker_options queue_options_from(const config& cfg) {
    queue_worker_options options;
    options.workers = cfg.queue.workers;
    options.task = {.max_tries = cfg.queue.max_tries,
                    .lease_margin = std::chrono::seconds(cfg.queue.lease_margin),
                    .backoff = std::chrono::seconds(cfg.queue.backoff),
                    .retry = cfg.database.retry,
                    .default_language = cfg.database.language,
                    .keep_done = std::chrono::seconds(cfg.queue.keep_done)};
    options.poll = std::chrono::seconds(cfg.queue.poll);
    // Purge every minute, or as often as keep_done asks (at least a second apart).
    options.cleanup_interval = std::clamp<std::chrono::milliseconds>(std::chrono::seconds(cfg.queue.keep_done),
                                                                     std::chrono::seconds(1), std::chrono::seconds(60));
    if (cfg.database.uri.rfind("postgresql://", 0) == 0) {
        options.listen_dsn = cfg.database.uri.substr(0, cfg.database.uri.find('?'));
        if (options.listen_dsn.back() != '/') options.listen_dsn += '/';
        options.listen_dsn += cfg.database.name;
    }
    return options;
}

queue_workers::queue_workers(std::shared_ptr<db::database> database, queue_worker_options options)
    : database_(std::move(database)), options_(std::move(options)) {
    ir::register_queue_metrics();
    figures_ = metrics::collector_handle([this](metrics::writer& w) {
        w.family("atrium_queue_depth", "gauge",
                 "Tasks in ir.queue waiting, running or failed (counted every 2 s by a read-only query).");
        w.sample("atrium_queue_depth", {{"state", "pending"}}, depth_.pending.load());
        w.sample("atrium_queue_depth", {{"state", "running"}}, depth_.running.load());
        w.sample("atrium_queue_depth", {{"state", "failed"}}, depth_.failed.load());
        w.family("atrium_queue_workers", "gauge", "Task queue worker fibers of this process (queue.workers).");
        w.sample("atrium_queue_workers", static_cast<double>(options_.workers));
        w.family("atrium_queue_workers_busy", "gauge", "Worker fibers of this process running a task now.");
        w.sample("atrium_queue_workers_busy", static_cast<double>(busy_.load()));
    });
}

void queue_workers::start(boost::asio::io_context& io) {
    // Counts the fiber alive until its body returns (or is unwound).
    const auto spawn = [this, &io](std::function<void()> body) {
        ++alive_;
        fiber::spawn_fiber(io, [this, body = std::move(body)] {
            struct gone {
                std::atomic<int>& alive;
                ~gone() { --alive; }
            } counted{alive_};
            body();
        });
    };
    // The depth is counted even without workers here: another process may run the tasks.
    spawn([this] { count_depth(); });
    if (options_.workers <= 0) return;
    const std::string prefix = "pid " + std::to_string(::getpid()) + " worker ";
    for (int i = 0; i < options_.workers; ++i) spawn([this, owner = prefix + std::to_string(i)] { work(owner); });
    spawn([this] { listen(); });
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

bool queue_workers::drain(boost::asio::io_context& io, std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished() && std::chrono::steady_clock::now() < deadline) {
        if (io.stopped()) io.restart();
        io.run_for(std::chrono::milliseconds(50));
    }
    return finished();
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

void queue_workers::count_depth() {
    using clock = std::chrono::steady_clock;
    while (!stopping_) {
        try {
            retry_options options;
            options.start.readonly = true;  // never the write lock, never a row lock
            call_with_retry(database_, root_user, options, [this](transaction& txn) {
                // Done tasks (up to queue.keep_done of them) are not counted: the
                // index on (state, …) keeps this cheap however many there are.
                double pending = 0, running = 0, failed = 0;
                for (const auto& row : txn.connection()
                                           .execute("SELECT state, COUNT(*) FROM ir_queue WHERE state IN "
                                                    "('pending', 'running', 'failed') GROUP BY state")
                                           .rows) {
                    const auto& state = std::get<std::string>(row[0]);
                    const auto n = static_cast<double>(std::get<std::int64_t>(row[1]));
                    (state == "pending" ? pending : state == "running" ? running : failed) = n;
                }
                depth_.pending = pending;
                depth_.running = running;
                depth_.failed = failed;
                return nlohmann::json();
            });
        } catch (const std::exception&) {
            // Not initialised yet, or unreachable: the last figures stay.
        }
        const auto until = clock::now() + options_.depth_interval;
        while (!stopping_ && clock::now() < until) {
            std::uint64_t seen = 0;
            {
                std::lock_guard lock(mutex_);
                seen = generation_;
            }
            wait(seen, std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()) +
                           std::chrono::milliseconds(1));
        }
    }
}

void queue_workers::maybe_purge(const std::string& owner) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    auto last = last_purge_.load();
    if (last != 0 && now - std::chrono::steady_clock::duration(last) < options_.cleanup_interval) return;
    if (!last_purge_.compare_exchange_strong(last, now.count())) return;  // another worker purges
    try {
        if (const auto purged = ir::purge_done_tasks(database_, options_.task.keep_done); purged > 0)
            log_info("queue: purged " + std::to_string(purged) + " done task(s) older than queue.keep_done");
    } catch (const std::exception& error) {
        log_warning(std::string("queue worker ") + owner + ": purging done tasks failed: " + error.what());
    }
}

void queue_workers::work(const std::string& owner) {
    while (!stopping_) {
        std::uint64_t seen = 0;
        {
            std::lock_guard lock(mutex_);
            seen = generation_;
        }
        maybe_purge(owner);
        // Idle workers still wake for the next purge of done tasks.
        auto timeout = std::min(options_.poll, options_.cleanup_interval);
        try {
            // A read-only look first: an idle worker never takes SQLite's write lock.
            const auto next = ir::next_task_in(database_);
            if (next && next->count() == 0) {
                int ran = 0;
                while (!stopping_) {
                    auto task = ir::take_task(database_, owner, options_.task);
                    if (!task) break;
                    ++ran;
                    ++busy_;
                    struct idle_again {
                        std::atomic<int>& busy;
                        ~idle_again() { --busy; }
                    } idle{busy_};
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
