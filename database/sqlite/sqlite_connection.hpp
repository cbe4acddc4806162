#pragma once
// One SQLite connection (database/database.hpp `connection`).
//
// * Opened with SQLITE_OPEN_NOMUTEX: one fiber (or thread) owns a connection
//   at a time, so SQLite's per-connection mutex is pure cost.
// * Every connection runs `PRAGMA foreign_keys=ON`, `PRAGMA synchronous=FULL`
//   and `PRAGMA case_sensitive_like=ON` (LIKE matches case, as in PostgreSQL);
//   file databases also run `PRAGMA journal_mode=WAL`.
// * Transactions: read-write ones start with `BEGIN IMMEDIATE` (the write lock
//   is taken at start, so a writer never fails half-way with
//   SQLITE_BUSY_SNAPSHOT); read-only ones with a deferred `BEGIN`, and any
//   statement that would write (sqlite3_stmt_readonly) fails with a
//   programming_error that says the transaction is read-only. Not `PRAGMA
//   query_only`: setting it expires every cached statement.
// * SQLITE_BUSY never sleeps the thread: the busy handler returns 0 at once.
//   BEGIN IMMEDIATE and COMMIT retry through wait_hooks::sleep_for (fiber-aware
//   in the server) with a back-off of 1 ms doubling up to 20 ms, for at most
//   the backend's busy wait (sqlite_settings::busy_wait, default 5 s); then
//   they throw a retryable operational_error. Any other statement that meets
//   SQLITE_BUSY / SQLITE_LOCKED throws the retryable error at once.
// * begin_options::statement_timeout is enforced per statement with a progress
//   handler that checks a steady_clock deadline; a statement that runs past it
//   fails with timeout_error. The same handler stops a running statement at
//   the call's deadline (begin_options::until) or when the call is cancelled
//   (begin_options::cancel): a timeout_error as a statement started past them
//   gets. The handler is removed at commit/rollback (COMMIT is never stopped).
// * Read-write transactions of a process that queue for the write turn run on
//   the database's shared writer connection with group commit
//   (sqlite_group_commit.hpp); this connection forwards to it meanwhile.
// * Statements are prepared once with SQLITE_PREPARE_PERSISTENT and kept in an
//   LRU cache keyed by the SQL text.

#include "database/database.hpp"
#include "database/sqlite/sqlite_write_gate.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace atrium::db {

/// Settings shared by the backend, its databases and their connections.
struct sqlite_settings {
    /// How to wait while the database is locked (sleep_for is always set).
    wait_hooks hooks;
    /// Longest total wait of BEGIN IMMEDIATE / COMMIT for a busy database, in
    /// milliseconds. Settable at any time (see sqlite_backend::set_busy_wait);
    /// `?busy_wait_ms=N` in the backend URI sets it at start.
    std::atomic<std::chrono::milliseconds> busy_wait{std::chrono::milliseconds(5000)};
    /// Prepared statements kept per connection (least recently used go first).
    std::size_t statement_cache_capacity = 256;

    /// Settings with `hooks` (a default sleep_for is filled in when empty).
    static std::shared_ptr<sqlite_settings> make(wait_hooks hooks = {});
};

class sqlite_group_commit;

class sqlite_connection final : public connection {
public:
    struct open_params {
        std::string target;  ///< file path, ":memory:", or a `file:` URI when `uri` is set
        bool uri = false;    ///< open with SQLITE_OPEN_URI
        bool wal = true;     ///< switch to WAL (file databases only)
        bool create = false; ///< SQLITE_OPEN_CREATE
    };

    /// Opens the connection and applies the pragmas; throws database_error.
    sqlite_connection(const open_params& params, std::shared_ptr<const sqlite_settings> settings);
    ~sqlite_connection() override;

    sqlite_connection(const sqlite_connection&) = delete;
    sqlite_connection& operator=(const sqlite_connection&) = delete;

    // --- connection ---
    void begin(const begin_options& options) override;
    bool in_transaction() const override;
    bool readonly() const override { return readonly_; }
    result execute(std::string_view sql, const std::vector<value>& params = {}) override;
    /// Ends the transaction begun by begin() (for an autocommit one: just ends
    /// it). A COMMIT that fails leaves the transaction open: roll it back.
    /// Without begin() it commits a transaction opened by a plain "BEGIN" if
    /// there is one, else does nothing.
    void commit() override;
    /// Rolls back; a no-op without a transaction or on a closed connection.
    void rollback() override;
    void allow_commit_batching(bool allowed) override { batching_allowed_ = allowed; }
    void savepoint(std::string_view name) override;
    void release_savepoint(std::string_view name) override;
    void rollback_to_savepoint(std::string_view name) override;
    /// No-ops (BEGIN IMMEDIATE already holds the database write lock); the
    /// table name must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), else
    /// programming_error.
    void lock_table(std::string_view table) override;
    void lock_records(std::string_view table, const std::vector<std::int64_t>& ids) override;
    void close() noexcept override;
    bool is_open() const override { return db_ != nullptr; }
    std::string_view backend_name() const override { return "sqlite"; }

    // --- SQLite specifics ---
    /// An error showed the connection cannot be trusted any more (I/O error,
    /// corruption, a failed ROLLBACK): the pool discards it.
    bool broken() const noexcept { return broken_; }
    /// The statement timeout of the current transaction, if any.
    std::optional<std::chrono::milliseconds> statement_timeout() const noexcept {
        return writer_ ? writer_->timeout_ : timeout_;
    }
    /// Whether statements that write are refused (only during a read-only transaction).
    bool refuses_writes() const;
    std::size_t cached_statements() const noexcept {
        return writer_ ? writer_->cache_.size() : cache_.size();
    }
    /// How many times SQLite had to re-prepare the cached statements (their
    /// SQLITE_STMTSTATUS_REPREPARE counters summed): stays 0 unless the schema changes.
    std::int64_t reprepare_count() const;
    /// Ends whatever the last user left behind (rolls back an open transaction,
    /// clears the timeout and the read-only guard). False, and the connection is marked
    /// broken, if that failed.
    bool reset() noexcept;
    /// The handle statements run on: the shared writer's during a group-commit transaction.
    sqlite3* native_handle() const noexcept { return writer_ ? writer_->db_ : db_; }

private:
    enum class mode { none, autocommit, deferred, immediate };

    struct cached_statement {
        std::string sql;
        sqlite3_stmt* stmt = nullptr;
    };
    using cache_list = std::list<cached_statement>;

    sqlite3_stmt* prepare_cached(std::string_view sql);
    void clear_cache() noexcept;
    /// Steps a statement without parameters to completion and returns the
    /// result code (SQLITE_OK on success) without throwing; the error message
    /// goes to `message`, the first column of the last row to `first_value`.
    int step_control(std::string_view sql, std::string& message,
                     std::string* first_value = nullptr);
    /// step_control() with the busy back-off (BEGIN IMMEDIATE, COMMIT, pragmas).
    void run_with_busy_retry(std::string_view sql, std::string* first_value = nullptr);
    [[noreturn]] void fail(int code, std::string_view message, std::string_view sql);
    void require_open(std::string_view sql) const;
    void require_live_transaction(std::string_view sql);
    void require_savepoint_context(std::string_view sql);
    void install_timeout(std::chrono::milliseconds timeout);
    /// Installs the progress handler when a statement timeout, a deadline or
    /// a cancellation may stop the statements of this transaction.
    void arm_interrupts();
    void clear_timeout() noexcept;
    /// clear_timeout(), and the call's deadline and cancellation forgotten.
    void forget_call_limits() noexcept;
    void end_session() noexcept;
    /// Queues for the process's turn to write (sqlite_write_gate), if this
    /// connection has a gate and the hooks can wake a fiber; throws the
    /// retryable SQLITE_BUSY error after the busy wait.
    void take_write_turn();
    void give_back_write_turn() noexcept;
    static int on_progress(void* self) noexcept;

    sqlite3* db_ = nullptr;
    std::shared_ptr<const sqlite_settings> settings_;
    std::string target_;

    cache_list lru_;  // most recently used first
    std::unordered_map<std::string_view, cache_list::iterator> cache_;

    bool session_ = false;  // begin() called, commit()/rollback() not yet
    mode mode_ = mode::none;
    bool readonly_ = false;
    bool broken_ = false;
    std::optional<std::chrono::milliseconds> timeout_;
    // Where the running statement is stopped (the earlier of its statement
    // timeout and the call's deadline), and what stopped it.
    std::chrono::steady_clock::time_point deadline_{};
    enum class interrupt { none, statement_timeout, call_deadline, call_cancelled };
    interrupt interrupted_by_ = interrupt::none;
    bool interrupts_armed_ = false;
    bool statement_interruptible_ = false;  // a user statement runs (control statements never stop)
    // The call's limits (begin_options::until / cancel) until the session
    // ends: the waits for the write lock end at the deadline, and no
    // statement starts after it (timeout_error, SQLSTATE 57014).
    deadline until_{};
    cancellation* cancel_ = nullptr;
    void check_call_limits(std::string_view sql) const;
    /// The busy wait, cut short by the call's deadline; `*by_deadline` says which.
    std::chrono::nanoseconds wait_limit(bool* by_deadline) const;

    // Set up by the pool (sqlite_database) and the group commit.
    friend class sqlite_database;
    friend class sqlite_group_commit;
    // The write queue of the connection's database (shared by its pool).
    std::shared_ptr<sqlite_write_gate> write_gate_;
    bool holds_write_turn_ = false;
    // The database's group commit, and its writer while this connection's
    // read-write transaction runs there (statements are forwarded to it).
    std::shared_ptr<sqlite_group_commit> group_;
    sqlite_connection* writer_ = nullptr;
    bool batching_allowed_ = true;  // allow_commit_batching(), reset by begin()
    bool turn_passed_here_ = false;  // the last give-back woke a writer of this thread
};

/// `"name"` with embedded double quotes doubled.
std::string sqlite_quote_identifier(std::string_view name);

/// [A-Za-z_][A-Za-z0-9_]*
bool is_plain_identifier(std::string_view name) noexcept;

}  // namespace atrium::db
