#include "database/postgresql/pg_pool.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/errors.hpp"

#include <algorithm>
#include <utility>

namespace atrium::db {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

constexpr auto k_first_pool_step = milliseconds(1);
constexpr auto k_max_pool_step = milliseconds(10);

// How far down the queue a waiter on the releasing thread may be served
// first, and how often one waiter may be passed over that way.
constexpr int k_waiter_lookahead = 8;
constexpr int k_max_passed_over = 2;

// How long an idle connection may keep an unsent read-only COMMIT.
constexpr auto k_commit_flush_delay = std::chrono::milliseconds(1);

std::string dq(std::string_view name) { return "\"" + std::string(name) + "\""; }

}  // namespace

pg_pool::pg_pool(std::string label, std::string conninfo, std::shared_ptr<const pg_settings> settings)
    : label_(std::move(label)), conninfo_(std::move(conninfo)), settings_(std::move(settings)) {}

pg_pool::~pg_pool() { close_idle(); }

void pg_pool::take_expired_locked(std::vector<std::unique_ptr<pg_connection>>& out,
                                  steady_clock::time_point now) {
    const milliseconds timeout = settings_->idle_timeout.load();
    // Oldest first (released in order, reused from the back).
    auto keep = idle_.begin();
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (now - (*it)->idle_since() >= timeout) {
            out.push_back(std::move(*it));
        } else {
            if (keep != it) *keep = std::move(*it);
            ++keep;
        }
    }
    idle_.erase(keep, idle_.end());
}

std::unique_ptr<pg_connection> pg_pool::take_idle_locked() {
    // The most recently released one whose socket this thread's event loop
    // already watches (its waits register nothing), else the most recent.
    auto pick = idle_.end() - 1;
    for (auto it = idle_.end(); it != idle_.begin();) {
        --it;
        if ((*it)->watched_here()) {
            pick = it;
            break;
        }
    }
    auto conn = std::move(*pick);
    idle_.erase(pick);
    return conn;
}

std::list<std::shared_ptr<pg_pool::waiter>>::iterator pg_pool::next_waiter(
    std::list<std::shared_ptr<waiter>>& waiters) noexcept {
    const auto front = waiters.begin();
    if ((*front)->wake_up->resumes_on_this_thread()) return front;
    int looked = 0;
    for (auto it = std::next(front); it != waiters.end() && looked < k_waiter_lookahead; ++it, ++looked) {
        if (!(*it)->wake_up->resumes_on_this_thread()) continue;
        for (auto ahead = front; ahead != it; ++ahead) {
            if ((*ahead)->passed_over >= k_max_passed_over) return front;
        }
        for (auto ahead = front; ahead != it; ++ahead) ++(*ahead)->passed_over;
        return it;
    }
    return front;
}

std::unique_ptr<pg_connection> pg_pool::acquire(const deadline& until) {
    const auto start = steady_clock::now();
    const milliseconds pool_limit = std::max(milliseconds(0), settings_->pool_wait.load());
    // The call's deadline bounds the wait too; whichever comes first ends it.
    const bool deadline_first = until && *until < start + pool_limit;
    const nanoseconds limit =
        deadline_first ? std::max(nanoseconds(0), nanoseconds(*until - start)) : nanoseconds(pool_limit);
    nanoseconds step = k_first_pool_step;
    nanoseconds requested{0};
    for (;;) {
        std::unique_ptr<pg_connection> conn;
        std::vector<std::unique_ptr<pg_connection>> discard;  // closed outside the lock
        std::shared_ptr<waiter> queued;
        bool open_new = false;
        std::size_t in_use_now = 0;
        {
            std::lock_guard lock(mutex_);
            if (dropped_) {
                throw operational_error("database " + dq(label_) + " was dropped [SQLSTATE 3D000]",
                                        error_category::other, "3D000");
            }
            take_expired_locked(discard, steady_clock::now());
            if (!idle_.empty()) conn = take_idle_locked();
            if (conn || in_use_ < settings_->pool_size.load()) {
                ++in_use_;  // counted now so that the bound holds while connecting
                open_new = !conn;
            } else if (settings_->hooks.make_waker && limit.count() > 0) {
                // Queued under the lock: no release between here and the wait is missed.
                queued = std::make_shared<waiter>();
                queued->wake_up = settings_->hooks.make_waker();
                waiters_.push_back(queued);
            }
            in_use_now = in_use_;
        }
        discard.clear();
        // Checked outside the lock (looks_alive() makes system calls: the
        // other threads' acquires and releases would queue behind them).
        while (conn && !conn->looks_alive()) {
            conn.reset();  // the server closed it; its place stays ours
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) conn = take_idle_locked();
            open_new = !conn;
        }
        if (queued) {
            auto granted = wait_in_queue(queued, limit - nanoseconds(steady_clock::now() - start));
            if (granted) {
                conn = std::move(*granted);
                open_new = !conn;
            } else {
                requested = limit;  // timed out
            }
        }
        if (conn) {
            conn->checked_out_ = true;
            return conn;
        }
        if (open_new) {
            try {
                conn = std::make_unique<pg_connection>(conninfo_, label_, settings_);
            } catch (...) {
                std::shared_ptr<waiter> next;
                {
                    std::lock_guard lock(mutex_);
                    next = pass_place_locked();
                }
                if (next) next->wake_up->wake();
                throw;
            }
            conn->checked_out_ = true;
            return conn;
        }
        // Exhausted: wait (suspending the fiber) for a release.
        const nanoseconds waited = std::max(requested, nanoseconds(steady_clock::now() - start));
        if (waited >= limit) {
            if (deadline_first) {
                throw_deadline_passed("waiting for a connection of database " + dq(label_) + ": " +
                                      std::to_string(in_use_now) + " in use, pool_size " +
                                      std::to_string(settings_->pool_size.load()));
            }
            throw operational_error(
                "connection pool for database " + dq(label_) + " exhausted: " +
                    std::to_string(in_use_now) + " connections in use for " +
                    std::to_string(std::chrono::duration_cast<milliseconds>(waited).count()) +
                    " ms (pool_size " + std::to_string(settings_->pool_size.load()) +
                    ") [SQLSTATE 53300]",
                error_category::unavailable, "53300");
        }
        const nanoseconds pause = std::min<nanoseconds>(step, limit - waited);
        settings_->hooks.sleep_for(pause);
        requested += pause;
        step = std::min<nanoseconds>(step * 2, k_max_pool_step);
    }
}

std::optional<std::unique_ptr<pg_connection>> pg_pool::wait_in_queue(const std::shared_ptr<waiter>& me,
                                                                     nanoseconds timeout) {
    // Whatever ends the wait (a wake-up, the timeout, a fiber being unwound),
    // the entry is settled under the lock: a grant that raced with the timeout
    // is kept; one left behind by an unwound fiber is passed on.
    struct settle {
        pg_pool& pool;
        const std::shared_ptr<waiter>& me;
        bool taken = false;
        ~settle() {
            if (taken) return;
            std::shared_ptr<waiter> next;
            std::unique_ptr<pg_connection> orphan;  // closed outside the lock if unused
            {
                std::lock_guard lock(pool.mutex_);
                if (!me->granted) {
                    pool.waiters_.remove(me);
                    return;
                }
                orphan = std::move(me->conn);
                if (orphan && (pool.waiters_.empty() || pool.dropped_)) {
                    --pool.in_use_;
                    try {
                        orphan->send_unsent_commit();  // idle: no transaction left open
                        orphan->set_idle_since(steady_clock::now());
                        pool.idle_.push_back(std::move(orphan));  // clean: it came from give_back()
                    } catch (const std::exception&) {  // bad_alloc: it is closed below
                    }
                } else {
                    next = pool.pass_place_locked();
                    if (next) next->conn = std::move(orphan);
                }
            }
            if (next) next->wake_up->wake();
        }
    } settle_on_exit{*this, me};
    me->wake_up->wait(std::max(timeout, nanoseconds(0)));
    std::lock_guard lock(mutex_);
    if (!me->granted) return std::nullopt;  // the destructor leaves the queue
    settle_on_exit.taken = true;
    return std::move(me->conn);
}

std::shared_ptr<pg_pool::waiter> pg_pool::pass_place_locked() noexcept {
    if (!waiters_.empty() && !dropped_) {
        const auto chosen = next_waiter(waiters_);
        auto next = std::move(*chosen);
        waiters_.erase(chosen);
        next->granted = true;  // in_use stays: the place is the waiter's now
        return next;
    }
    if (in_use_ > 0) --in_use_;
    return nullptr;
}

void pg_pool::give_back(std::unique_ptr<connection> conn, bool discard_it) noexcept {
    if (!conn) return;
    // Only this pool's pooled_connection handles call here: it is one of ours.
    std::unique_ptr<pg_connection> own(static_cast<pg_connection*>(conn.release()));

    bool keep = !discard_it && own->is_open() && !own->broken();
    if (keep) keep = own->reset();  // rolls back, resets session state
    // An unsent read-only COMMIT rides with the next user's first round
    // trip. A connection going idle keeps it for a moment (the next acquire
    // comes soon under load) with a flush scheduled: an idle connection must
    // not hold a transaction open for long. Without an event loop to
    // schedule on (tools, tests), it is sent on the way to the idle list.
    const bool defer_commit = static_cast<bool>(settings_->hooks.run_later);
    bool schedule_flush = false;

    std::vector<std::unique_ptr<pg_connection>> discard;
    std::shared_ptr<waiter> next;
    {
        std::lock_guard lock(mutex_);
        own->checked_out_ = false;
        const auto now = steady_clock::now();
        if (!waiters_.empty() && !dropped_ && in_use_ <= settings_->pool_size.load()) {
            // Straight to the first waiter: the connection if it is kept,
            // else its place (the waiter opens a new one).
            next = pass_place_locked();
            if (keep) next->conn = std::move(own);
        } else {
            --in_use_;
            if (keep && !dropped_) {
                if (own->has_unsent_commit()) {
                    if (!defer_commit) {
                        own->send_unsent_commit();  // one send, no wait
                    } else if (!commit_flush_scheduled_) {
                        commit_flush_scheduled_ = schedule_flush = true;
                    }
                }
                own->set_idle_since(now);
                try {
                    idle_.push_back(std::move(own));
                } catch (const std::exception&) {  // bad_alloc: close it instead (nothing here suspends a fiber)
                }
            }
        }
        if (own) {
            try {
                discard.push_back(std::move(own));
            } catch (const std::exception&) {
                own.reset();
            }
        }
        try {
            take_expired_locked(discard, now);
        } catch (const std::exception&) {  // bad_alloc: the expired ones go at the next release
        }
    }
    if (next) next->wake_up->wake();
    if (schedule_flush) schedule_commit_flush();
    // `discard` closes outside the lock.
}

void pg_pool::schedule_commit_flush() noexcept {
    std::weak_ptr<pg_pool> weak = weak_from_this();
    bool scheduled = false;
    try {
        scheduled = settings_->hooks.run_later(k_commit_flush_delay, [weak] {
            if (auto pool = weak.lock()) pool->flush_unsent_commits();
        });
    } catch (const std::exception&) {  // bad_alloc: flush now
    }
    if (!scheduled) flush_unsent_commits();
}

void pg_pool::flush_unsent_commits() noexcept {
    // Under the lock: an idle connection is nobody's. One send each, no wait.
    std::lock_guard lock(mutex_);
    commit_flush_scheduled_ = false;
    for (auto& conn : idle_) conn->send_unsent_commit();
}

std::size_t pg_pool::in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
}

std::size_t pg_pool::idle() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
}

std::size_t pg_pool::close_expired() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(mutex_);
        take_expired_locked(discard, steady_clock::now());
    }
    return discard.size();
}

std::size_t pg_pool::close_idle() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(mutex_);
        discard.swap(idle_);
    }
    return discard.size();
}

void pg_pool::mark_dropped() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(mutex_);
        if (in_use_ > 0) {
            // Not retryable: the caller has to end those users first.
            throw operational_error("cannot drop database " + dq(label_) + ": " +
                                        std::to_string(in_use_) +
                                        " connection(s) of this process still in use "
                                        "[SQLSTATE 55006]",
                                    error_category::other, "55006");
        }
        dropped_ = true;
        discard.swap(idle_);
    }
}

void pg_pool::unmark_dropped() noexcept {
    std::lock_guard lock(mutex_);
    dropped_ = false;
}

}  // namespace atrium::db
