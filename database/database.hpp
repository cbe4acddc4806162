#pragma once
// The backend-neutral database interface: a backend (chosen by URI) holds
// databases by name; a database hands out pooled connections; a connection runs one
// DB transaction at a time with bound parameters.

#include "database/call_limits.hpp"
#include "database/pooled_connection.hpp"
#include "database/shared_counter.hpp"
#include "database/value.hpp"
#include "fiber/waiter.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::db {

/// How a DB transaction is started.
struct begin_options {
    bool readonly = false;    ///< read-only DB transaction; writes fail with programming_error
    bool autocommit = false;  ///< no enclosing DB transaction: every statement commits
    /// Statement timeout for this transaction only (never leaks to the next user).
    std::optional<std::chrono::milliseconds> statement_timeout;
    /// The call's deadline: no statement starts after it, and each runs with
    /// at most the time left (PostgreSQL: statement_timeout lowered to it).
    deadline until{};
    /// The call's cancellation (its running statement is cancelled with it);
    /// must outlive the DB transaction. Null: none.
    cancellation* cancel = nullptr;
};

/// How the database layer waits: the fiber layer's interfaces (fiber/waiter.hpp).
using fiber::make_thread_waker;
using fiber::socket_watch;
using fiber::waker;

/// How the database layer waits without blocking an I/O thread. The
/// transaction layer installs fiber-aware versions; the defaults block the
/// calling thread (fine for tests and command-line tools).
struct wait_hooks {
    std::function<void(std::chrono::nanoseconds)> sleep_for;
    /// Waits until a socket is readable (PostgreSQL results); default: poll().
    std::function<void(int fd)> wait_readable;
    /// Makes a waker for the calling fiber. When set, SQLite writers of one
    /// process queue for the write lock instead of polling it (sqlite_write_gate).
    std::function<std::shared_ptr<waker>()> make_waker;
    /// Lets the other ready fibers of the thread run first (empty: no-op).
    /// An SQLite writer that handed the write lock to a fiber of its own
    /// thread yields, so the lock is used at once instead of after the
    /// writer's response has been written.
    std::function<void()> yield;
    /// Makes a socket_watch for `fd` (a dup of it: the caller keeps its own fd)
    /// on the calling fiber's event loop; nullptr, or empty, where there is
    /// none: wait_readable serves then.
    std::function<std::unique_ptr<socket_watch>(int fd)> watch_socket;
    /// Runs `task` after `delay` on the calling fiber's event loop (its
    /// thread, outside any fiber; it must neither throw nor wait) and returns
    /// true; false, doing nothing, where there is no event loop.
    std::function<bool(std::chrono::nanoseconds delay, std::function<void()> task)> run_later;
};

/// One connection to one database. Not thread-safe: one fiber uses it at a time.
class connection {
public:
    virtual ~connection() = default;

    virtual void begin(const begin_options& options) = 0;
    virtual bool in_transaction() const = 0;
    virtual bool readonly() const = 0;

    /// Runs one statement with positional parameters (`?` or `$n` per backend dialect;
    /// `?` works on every backend).
    virtual result execute(std::string_view sql, const std::vector<value>& params = {}) = 0;

    virtual void commit() = 0;
    virtual void rollback() = 0;
    /// Whether the next commit() may wait for other transactions so that they
    /// share one COMMIT (SQLite's group commit; true after every begin()). The
    /// transaction layer forbids it while other participants hold what a later
    /// writer could wait for (a prepared transaction's locks): that wait would
    /// be a deadlock. Backends without group commit ignore it.
    virtual void allow_commit_batching(bool allowed) { (void)allowed; }

    virtual void savepoint(std::string_view name) = 0;
    virtual void release_savepoint(std::string_view name) = 0;
    virtual void rollback_to_savepoint(std::string_view name) = 0;

    /// Exclusive table lock without waiting (PostgreSQL); a no-op where the
    /// transaction already holds the database write lock (SQLite).
    virtual void lock_table(std::string_view table) = 0;
    /// Row locks without waiting (PostgreSQL FOR UPDATE NOWAIT); no-op on SQLite.
    virtual void lock_records(std::string_view table, const std::vector<std::int64_t>& ids) = 0;
    /// Until the transaction ends, lock_table()/lock_records() may wait up to
    /// `wait` for a lock another transaction holds (PostgreSQL: lock_timeout),
    /// then fail as NOWAIT does (55P03). Zero, the state after begin(): NOWAIT.
    /// No-op where locks never wait.
    virtual void set_lock_wait(std::chrono::milliseconds wait) { (void)wait; }

    virtual void close() noexcept = 0;
    virtual bool is_open() const = 0;
    virtual std::string_view backend_name() const = 0;
};

/// One named database; owns the pool of its connections.
class database {
public:
    virtual ~database() = default;

    virtual const std::string& name() const = 0;
    virtual std::string_view backend_name() const = 0;

    /// A connection with no DB transaction open. It goes back to the pool
    /// when the handle is destroyed (pooled_connection::discard() closes it).
    virtual pooled_connection acquire() = 0;
    /// acquire(), waiting for a free connection no later than `until`
    /// (then timeout_error, SQLSTATE 57014). Default: acquire().
    virtual pooled_connection acquire_until(const deadline& until) {
        (void)until;
        return acquire();
    }

    /// Connections currently handed out (for tests and metrics).
    virtual std::size_t in_use() const = 0;
    /// Connections idle in the pool.
    virtual std::size_t idle() const = 0;

    /// The counter of `topic` (lowercase letters, digits, '_') that every
    /// process using this database sees (shared_counter.hpp), for caches that
    /// have no other way to hear about changes; nullptr where the backend has
    /// one (PostgreSQL: LISTEN/NOTIFY). Throws std::invalid_argument for a bad
    /// topic, std::system_error if the counter cannot be set up.
    virtual std::shared_ptr<shared_counter> change_counter(std::string_view topic) {
        (void)topic;
        return nullptr;
    }
};

/// A database server or directory, chosen by URI.
class backend {
public:
    virtual ~backend() = default;

    virtual std::string_view name() const = 0;
    /// Opens (and caches) the named database; it must exist. The empty name is
    /// the maintenance database, only good for listing databases. Every
    /// "cannot be opened" is an operational_error, on every backend: a name
    /// the backend refuses is an invalid_database_name (SQLSTATE 3D000),
    /// also from create/drop/exists.
    virtual std::shared_ptr<database> open(const std::string& name) = 0;
    virtual void create(const std::string& name) = 0;
    virtual void drop(const std::string& name) = 0;
    virtual bool exists(const std::string& name) = 0;
    virtual std::vector<std::string> list() = 0;
};

/// `sqlite:///abs/dir` or `sqlite://rel/dir` (one file per database under that
/// directory), `sqlite://:memory:` (in-process databases, for unit tests), or
/// `postgresql://user:pass@host:port/` (databases chosen per open(); see
/// postgresql/pg_backend.hpp for the pool parameters).
std::unique_ptr<backend> open_backend(std::string_view uri, wait_hooks hooks = {});

}  // namespace atrium::db
