#pragma once
// The PostgreSQL backend: one server, databases chosen by name, a bounded
// connection pool per database (pg_database).
//
// URI (see open_backend in database/database.hpp):
//   postgresql://[user[:password]@][host][:port][/][?param=value&...]
//   (also postgres://). User, password and host are percent-decoded; the host
//   may be an [IPv6] address or, percent-encoded, a Unix socket directory;
//   without a host libpq's default applies. The database name is not part of
//   the URI: it is chosen per open(name); the empty name is the maintenance
//   database `postgres`. Parameters consumed by Atrium:
//     pool_size=N       most connections per database, in use + idle (default 10)
//     retry=N           database.retry (default 5)
//     pool_wait_ms=N    longest wait for a free connection (default retry x 1000)
//     idle_timeout_s=S  idle connections older than this are closed
//                       (database.timeout, default 1800; may be fractional)
//   passed on to libpq: sslmode, connect_timeout, application_name.
//   Anything else is a std::invalid_argument. Errors never show the password.
//
// Database names follow the SQLite backend's rule: 1 to 63 letters, digits,
// '_' and '-'; a bad name is a db::invalid_database_name (an operational error).
//
// The pool (pg_database): acquire() hands out the most recently released idle
// connection that still looks alive (a non-blocking poll of its socket; one
// the server closed is dropped), else opens a new one while fewer than
// pool_size are in use, else waits in small steps through
// wait_hooks::sleep_for (a fiber suspends, its thread serves others) until a
// connection is released, at most pool_wait_ms; then it throws
// operational_error (category other, SQLSTATE 53300) "connection pool for
// database "x" exhausted: N connections in use for M ms". release() rolls back
// what the user left open, resets session state, discards broken or closed
// connections, and both acquire() and release() close idle connections older
// than idle_timeout_s. Thread-safe (a std::mutex, never held while waiting
// for the server or sleeping).

#include "database/database.hpp"
#include "database/postgresql/pg_connection.hpp"

#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::db {

/// The pool of one database. Shared with the connections handed out so that a
/// connection destroyed without release() still leaves the count right.
struct pg_pool_state {
    /// One acquire() queued for a connection.
    struct waiter {
        std::shared_ptr<waker> wake_up;
        bool granted = false;                 // a place (counted in in_use) is now this waiter's
        std::unique_ptr<pg_connection> conn;  // the released connection; null: open a new one
        int passed_over = 0;                  // times a later waiter was served first
    };

    std::mutex mutex;
    std::vector<std::unique_ptr<pg_connection>> idle;  // most recently released last
    std::size_t in_use = 0;                            // handed out, being opened or granted
    std::list<std::shared_ptr<waiter>> waiters;        // FIFO (but see next_waiter)
    bool dropped = false;
    // A flush of the idle connections' unsent read-only COMMITs is due.
    bool commit_flush_scheduled = false;

    /// Sends the unsent read-only COMMITs of the idle connections.
    static void flush_unsent_commits(pg_pool_state& state) noexcept;

    /// The waiter a release serves, of a non-empty queue: the first, unless
    /// one of the next few resumes on the releasing thread (no cross-thread
    /// wake-up, and the connection stays with the event loop that watches its
    /// socket) and none it would overtake has been overtaken twice already.
    static std::list<std::shared_ptr<waiter>>::iterator next_waiter(std::list<std::shared_ptr<waiter>>& waiters) noexcept;
};

class pg_database final : public database {
public:
    /// `label` is the database name shown in errors ("postgres" for the
    /// maintenance database, whose name() is empty).
    pg_database(std::string name, std::string label, std::string conninfo,
                std::shared_ptr<const pg_settings> settings);
    ~pg_database() override;

    const std::string& name() const override { return name_; }
    std::string_view backend_name() const override { return "postgresql"; }

    /// A connection with no transaction open (see the pool above). Throws
    /// operational_error when the pool stays exhausted, the database was
    /// dropped, or connecting fails (retryable, SQLSTATE 08006).
    std::unique_ptr<connection> acquire() override;
    /// Back to the pool after reset(), unless `close`, the connection is
    /// closed or broken, the reset failed, or the database was dropped. A
    /// connection of another pool or backend is destroyed.
    void release(std::unique_ptr<connection> conn, bool close = false) noexcept override;
    std::size_t in_use() const override;
    std::size_t idle() const override;

    /// Closes the idle connections older than the idle timeout; returns how many.
    std::size_t close_expired();
    /// Closes every idle connection; returns how many.
    std::size_t close_idle();

    /// For drop(): refuses if connections are in use (operational_error,
    /// category other, SQLSTATE 55006), else closes the idle ones and makes
    /// acquire() fail until unmark_dropped().
    void mark_dropped();
    void unmark_dropped() noexcept;

    /// Called by a connection destroyed while checked out of `state`.
    static void forget_checked_out(pg_pool_state& state) noexcept;

private:
    /// Waits in the queue (entered under the mutex by acquire()) for a
    /// connection or a place; nullopt on timeout.
    std::optional<std::unique_ptr<pg_connection>> wait_in_queue(
        const std::shared_ptr<pg_pool_state::waiter>& me, std::chrono::nanoseconds timeout);
    /// Gives a place that will not be used (in_use) to the first waiter, else
    /// frees it; returns the waiter to wake. The caller holds the mutex.
    static std::shared_ptr<pg_pool_state::waiter> pass_place_locked(pg_pool_state& state) noexcept;
    /// Sends the idle connections' unsent COMMITs soon, on the calling
    /// fiber's event loop (at once without one).
    void schedule_commit_flush() noexcept;
    /// Takes one of the (non-empty) idle connections: the most recent watched here, else the most recent.
    static std::unique_ptr<pg_connection> take_idle_locked(std::vector<std::unique_ptr<pg_connection>>& idle);

    /// Moves the expired idle connections to `out`; the caller holds the mutex.
    void take_expired_locked(std::vector<std::unique_ptr<pg_connection>>& out,
                             std::chrono::steady_clock::time_point now);

    std::string name_;
    std::string label_;
    std::string conninfo_;
    std::shared_ptr<const pg_settings> settings_;
    std::shared_ptr<pg_pool_state> state_;
};

class pg_backend final : public backend {
public:
    /// Where the server is (the parts of the URI before the query).
    struct server_address {
        std::string host;      ///< empty: libpq default (Unix socket)
        std::string port;      ///< empty: libpq default
        std::string user;      ///< empty: libpq default
        std::string password;  ///< never shown in errors
        /// Extra libpq keywords (sslmode, connect_timeout, application_name).
        std::vector<std::pair<std::string, std::string>> options;
    };

    pg_backend(server_address address, std::shared_ptr<pg_settings> settings);
    /// Parses the part of a `postgresql://` URI after the "postgresql://".
    static std::unique_ptr<pg_backend> from_uri_rest(std::string_view rest, wait_hooks hooks);
    ~pg_backend() override;

    std::string_view name() const override { return "postgresql"; }
    /// The pool of a database (cached; the first open checks that the
    /// database exists, else operational_error 3D000). "" = `postgres`.
    std::shared_ptr<database> open(const std::string& name) override;
    /// `CREATE DATABASE "name" TEMPLATE template0 ENCODING 'UTF8'` on the
    /// maintenance database (autocommit). An existing name: programming_error 42P04.
    void create(const std::string& name) override;
    /// Closes this process's idle connections to it (refuses, operational_error
    /// 55006, while some are in use), then `DROP DATABASE "name"`. A missing
    /// database: programming_error 3D000; other sessions connected: the
    /// server's 55006 error.
    void drop(const std::string& name) override;
    /// False for the empty (maintenance) name.
    bool exists(const std::string& name) override;
    /// Non-template databases with valid names, sorted.
    std::vector<std::string> list() override;

    const pg_settings& settings() const noexcept { return *settings_; }
    void set_pool_size(std::size_t size);
    void set_pool_wait(std::chrono::milliseconds wait);
    void set_idle_timeout(std::chrono::milliseconds timeout);

    /// The URI without the password ("postgresql://user@host:port/").
    std::string display_uri() const;

    /// Throws invalid_database_name unless `name` is 1..63 of [A-Za-z0-9_-]
    /// (or empty when `allow_maintenance`).
    static void validate_name(std::string_view name, bool allow_maintenance = false);

    /// The maintenance database `postgres` (open("")).
    static constexpr const char* maintenance_database = "postgres";

private:
    std::string conninfo_for(const std::string& database) const;
    std::shared_ptr<pg_database> maintenance();
    /// Runs one statement on a maintenance connection in autocommit mode.
    result maintenance_execute(const std::string& sql, const std::vector<value>& params = {});
    std::string quote_identifier(const std::string& name);

    server_address address_;
    std::shared_ptr<pg_settings> settings_;

    std::mutex mutex_;  // never held while talking to the server
    std::map<std::string, std::shared_ptr<pg_database>> open_;
};

}  // namespace atrium::db
