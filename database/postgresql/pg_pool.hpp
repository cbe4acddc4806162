#pragma once
// The connection pool of one PostgreSQL database (pg_database owns it; the
// pooled_connection handles it gives out hold it weakly and give their
// connection back through it).
//
// acquire() hands out the most recently released idle connection that still
// looks alive (a non-blocking poll of its socket; one the server closed is
// dropped), else opens a new one while fewer than pool_size are in use, else
// waits in small steps through wait_hooks::sleep_for (a fiber suspends, its
// thread serves others) until a connection is released, at most
// pool_wait_ms; then it throws operational_error (category other, SQLSTATE
// 53300) "connection pool for database "x" exhausted: N connections in use
// for M ms". give_back() rolls back what the user left open, resets session
// state, discards broken or closed connections, and both acquire() and
// give_back() close idle connections older than idle_timeout_s. Thread-safe
// (a std::mutex, never held while waiting for the server or sleeping).

#include "database/database.hpp"
#include "database/postgresql/pg_connection.hpp"

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace atrium::db {

class pg_pool final : public connection_pool, public std::enable_shared_from_this<pg_pool> {
public:
    /// One acquire() queued for a connection.
    struct waiter {
        std::shared_ptr<waker> wake_up;
        bool granted = false;                 // a place (counted in in_use) is now this waiter's
        std::unique_ptr<pg_connection> conn;  // the released connection; null: open a new one
        int passed_over = 0;                  // times a later waiter was served first
    };

    /// `label` is the database name shown in errors.
    pg_pool(std::string label, std::string conninfo, std::shared_ptr<const pg_settings> settings);
    ~pg_pool() override;

    /// A connection with no transaction open, counted in in_use() until it is
    /// given back. Throws operational_error when the pool stays exhausted,
    /// the database was dropped, or connecting fails (retryable, SQLSTATE 08006).
    /// With `until`, the wait also ends there: timeout_error (category
    /// timeout, SQLSTATE 57014) when the deadline, not pool_wait_ms, cut it.
    std::unique_ptr<pg_connection> acquire(const deadline& until = {});
    /// Back to the pool after reset(), unless `discard`, the connection is
    /// closed or broken, the reset failed, or the database was dropped.
    void give_back(std::unique_ptr<connection> conn, bool discard) noexcept override;

    std::size_t in_use() const;
    std::size_t idle() const;
    std::size_t max_size() const { return settings_->pool_size.load(); }
    /// Closes the idle connections older than the idle timeout; returns how many.
    std::size_t close_expired();
    /// Closes every idle connection; returns how many.
    std::size_t close_idle();
    /// Refuses if connections are in use (operational_error, category other,
    /// SQLSTATE 55006), else closes the idle ones and makes acquire() fail
    /// until unmark_dropped().
    void mark_dropped();
    void unmark_dropped() noexcept;

    /// The waiter a release serves, of a non-empty queue: the first, unless
    /// one of the next few resumes on the releasing thread (no cross-thread
    /// wake-up, and the connection stays with the event loop that watches its
    /// socket) and none it would overtake has been overtaken twice already.
    static std::list<std::shared_ptr<waiter>>::iterator next_waiter(std::list<std::shared_ptr<waiter>>& waiters) noexcept;

private:
    /// Waits in the queue (entered under the mutex by acquire()) for a
    /// connection or a place; nullopt on timeout.
    std::optional<std::unique_ptr<pg_connection>> wait_in_queue(const std::shared_ptr<waiter>& me,
                                                                std::chrono::nanoseconds timeout);
    /// Gives a place that will not be used (in_use) to the first waiter, else
    /// frees it; returns the waiter to wake. The caller holds the mutex.
    std::shared_ptr<waiter> pass_place_locked() noexcept;
    /// Sends the idle connections' unsent COMMITs soon, on the calling
    /// fiber's event loop (at once without one).
    void schedule_commit_flush() noexcept;
    /// Sends the unsent read-only COMMITs of the idle connections.
    void flush_unsent_commits() noexcept;
    /// Takes one of the (non-empty) idle connections: the most recent watched here, else the most recent.
    std::unique_ptr<pg_connection> take_idle_locked();
    /// Moves the expired idle connections to `out`; the caller holds the mutex.
    void take_expired_locked(std::vector<std::unique_ptr<pg_connection>>& out,
                             std::chrono::steady_clock::time_point now);

    const std::string label_;
    const std::string conninfo_;
    const std::shared_ptr<const pg_settings> settings_;

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<pg_connection>> idle_;  // most recently released last
    std::size_t in_use_ = 0;                            // handed out, being opened or granted
    std::list<std::shared_ptr<waiter>> waiters_;        // FIFO (but see next_waiter)
    bool dropped_ = false;
    // A flush of the idle connections' unsent read-only COMMITs is due.
    bool commit_flush_scheduled_ = false;
};

}  // namespace atrium::db
