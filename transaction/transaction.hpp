#pragma once
// The Tryton-style transaction (SPEC §1, §4): database, connection, user,
// an immutable context shared cheaply between scopes, the read-only flag,
// access checks, bookkeeping, lock requests and data managers. Transactions
// live on the calling fiber's stack (fiber_context.hpp); begin() and
// new_transaction() push one, and it ends when its last reference is removed.

#include "database/database.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/lock_queue.hpp"
#include "transaction/remote_address.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace atrium {

/// An immutable context map (a JSON object) shared between scopes.
using context_ptr = std::shared_ptr<const nlohmann::json>;

/// The user id of the superuser that bypasses access checks.
inline constexpr std::int64_t root_user = 0;

struct transaction_options {
    bool readonly = false;
    nlohmann::json context = nlohmann::json::object();
    bool close = false;       ///< close the connection at the end instead of pooling it
    bool autocommit = false;
    std::optional<std::chrono::milliseconds> timeout{};  ///< statement timeout (none or zero: the server default)
    /// Start-up extras: `_lock_tables` (list) and `_lock_records` (table → ids).
    nlohmann::json extras = nlohmann::json::object();
    /// Retries of the start-time lock acquisition (SPEC §4.2, `database.retry`).
    int lock_retries = 5;
    /// Back-off unit of those retries: sleep `lock_backoff × (retries − count)`.
    std::chrono::nanoseconds lock_backoff = std::chrono::milliseconds(20);
    /// Those retries wait for a lock held elsewhere (PostgreSQL lock_timeout,
    /// this in all, shared between them) instead of NOWAIT, so that a busy lock
    /// is queued for, not raced for; the first attempt stays NOWAIT. Zero: NOWAIT always.
    std::chrono::milliseconds lock_retry_wait = std::chrono::seconds(1);
    /// Longest wait for the in-process turn on a `_lock_tables` table
    /// (PostgreSQL, transaction/lock_queue.hpp) before a retryable 55P03.
    std::chrono::nanoseconds lock_wait = std::chrono::seconds(10);
    /// Default language when the context has none (`database.language`).
    std::string default_language = "en";
    /// The call's deadline (the earlier of this and the fiber's call limits,
    /// fiber_transactions::call(), applies): it bounds the pool wait, the
    /// start-lock retries and their back-offs, and every statement (the
    /// statement timeout becomes the time left); past it, timeout_error.
    db::deadline deadline{};
    /// Cancels the transaction's running statement (default: the fiber's call limits').
    std::shared_ptr<db::cancellation> cancel{};
};

class transaction_scope;
class reference_scope;

class transaction final : public std::enable_shared_from_this<transaction>, private tpc::last_resource {
public:
    transaction();
    ~transaction();
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    // --- attributes (SPEC §1.2) ---
    bool started() const noexcept { return started_; }
    const std::shared_ptr<db::database>& database() const noexcept { return database_; }
    /// The connection of a started transaction. After an explicit commit() or
    /// rollback() the next DB transaction begins here, on first use.
    db::connection& connection() const;
    std::int64_t user() const noexcept { return user_; }
    bool readonly() const noexcept { return readonly_; }
    bool close() const noexcept { return close_; }
    bool autocommit() const noexcept { return autocommit_; }
    std::optional<std::chrono::milliseconds> timeout() const noexcept { return timeout_; }
    /// The call's deadline in force (none: no deadline).
    const db::deadline& deadline() const noexcept { return deadline_; }
    /// What cancels the transaction's running statement (null: nothing).
    const std::shared_ptr<db::cancellation>& call_cancellation() const noexcept { return cancel_; }
    const nlohmann::json& context() const noexcept { return *context_; }
    const context_ptr& shared_context() const noexcept { return context_; }

    std::map<std::string, std::vector<std::int64_t>> create_records;  ///< created ids per model
    std::map<std::string, std::set<std::int64_t>> delete_records;      ///< deleted ids per model
    std::map<std::string, std::set<std::int64_t>> trigger_records;     ///< triggered ids per trigger
    std::vector<nlohmann::json> log_records;                           ///< buffered log records
    std::map<std::string, std::set<std::int64_t>> check_warnings;      ///< consumed user warnings
    /// Optimistic lock, the call's `_timestamp` as given (Tryton keeps it so): "model,id" → time.
    nlohmann::json timestamp = nlohmann::json::object();
    std::int64_t counter = 0;                                          ///< ORM create/write/delete calls

    /// Monotonic nanoseconds recorded before connecting (reset on commit).
    std::uint64_t started_at() const noexcept { return started_at_; }
    /// The monotonic clock started_at is read from.
    static std::uint64_t monotonic_time() noexcept;
    /// Nanoseconds begin() waited for the pooled connection; spent committing (for the slow-call log).
    std::uint64_t pool_wait_ns() const noexcept { return pool_wait_ns_; }
    std::uint64_t commit_ns() const noexcept { return commit_ns_; }

    // --- derived properties (SPEC §1.4) ---
    std::string language() const;
    bool access_checked() const;  ///< context `_check_access`: model methods check access rights
    bool active_records() const;

    /// The client address from the request context (`_request.remote_addr`), with its network.
    std::optional<atrium::remote_address> remote_address(int ipv4_prefix = 32, int ipv6_prefix = 56) const;

    /// Called by the database layer's cache machinery: cleared on commit and rollback.
    void add_cache_clearer(std::function<void()> clear);

    /// Low-level start (SPEC §1.2); begin() is the normal entry. Starting a
    /// started transaction is a programming error that leaves it untouched.
    void start(std::shared_ptr<db::database> database, std::int64_t user, const transaction_options& options);

    // --- ending ---
    /// Explicit commit (Tryton facade): drives the data managers with the main
    /// connection as the last resource. The following stop only ends the empty DB transaction.
    void commit();
    /// Explicit rollback (Tryton facade).
    void rollback();
    /// Removes the top reference; the last one commits or rolls back (SPEC §1.3).
    void stop(bool commit);

    // --- locks (SPEC §4.1) ---
    void lock_table(const std::string& table);
    void lock_records(const std::string& table, const std::vector<std::int64_t>& ids);
    const std::set<std::string>& locked_tables() const noexcept { return locked_tables_; }
    const std::map<std::string, std::set<std::int64_t>>& locked_records() const noexcept {
        return locked_records_;
    }

    // --- data managers and callbacks ---
    /// Joins a data manager; returns the registered one (use the result).
    std::shared_ptr<tpc::data_manager> join(std::shared_ptr<tpc::data_manager> dm);
    tpc::coordinator& coordinator() noexcept { return coordinator_; }
    /// Runs after the transaction fully ended, only if ending did not throw (SPEC §1.3 d).
    void atexit(std::function<void()> callback);

    // --- scopes (SPEC §1.4); defined in scopes.hpp ---
    friend struct scope_access;

private:
    friend transaction_scope begin(std::shared_ptr<db::database>, std::int64_t, transaction_options);
    friend transaction_scope new_transaction(transaction_options);

    void wait_for_lock_turns(const transaction_options& options);
    void acquire_start_locks(const nlohmann::json& extras);
    void clear_caches();
    void reset() noexcept;
    void end_db_transaction(bool commit);
    /// coordinator_.commit, timed and counted (util/metrics.hpp).
    void timed_commit();

    // tpc::last_resource
    void flush_buffers() override;
    void commit_last_resource() override;
    void rollback_last_resource() noexcept override;

    bool started_ = false;
    mutable bool needs_begin_ = false;  // explicit commit()/rollback() ended the DB transaction
    std::shared_ptr<db::database> database_;
    db::pooled_connection connection_;
    std::int64_t user_ = 0;
    bool readonly_ = false;
    bool close_ = false;
    bool autocommit_ = false;
    std::optional<std::chrono::milliseconds> timeout_;
    db::deadline deadline_;
    std::shared_ptr<db::cancellation> cancel_;
    context_ptr context_;
    std::string default_language_ = "en";
    std::uint64_t started_at_ = 0;
    std::uint64_t pool_wait_ns_ = 0;
    std::uint64_t commit_ns_ = 0;
    std::set<std::string> locked_tables_;
    std::map<std::string, std::set<std::int64_t>> locked_records_;
    std::vector<std::unique_ptr<lock_turn>> lock_turns_;  // in-process turns on start-time table locks
    std::vector<std::function<void()>> atexit_;
    std::vector<std::function<void()>> cache_clearers_;
    tpc::coordinator coordinator_;
};

/// The top transaction of the calling fiber. Throws no_transaction when the
/// stack is empty: a transaction is never created implicitly (SPEC §1.1).
transaction& current();
transaction* current_or_null() noexcept;

/// Ends one reference to a transaction. The destructor never throws: it stops
/// with commit on normal exit and rollback when an exception is propagating.
class [[nodiscard]] transaction_scope {
public:
    explicit transaction_scope(std::shared_ptr<transaction> txn);
    transaction_scope(transaction_scope&& other) noexcept;
    transaction_scope& operator=(transaction_scope&&) = delete;
    ~transaction_scope();

    transaction& operator*() const noexcept { return *txn_; }
    transaction* operator->() const noexcept { return txn_.get(); }
    transaction& get() const noexcept { return *txn_; }
    bool open() const noexcept { return open_; }

    /// Ends the scope now and reports errors (the dispatcher uses this).
    void close(bool commit);
    /// Explicit commit of the transaction (data managers, main connection);
    /// the scope stays open and its end only closes the empty DB transaction.
    void commit() { txn_->commit(); }
    void rollback() { txn_->rollback(); }

private:
    std::shared_ptr<transaction> txn_;
    bool open_ = true;
    int uncaught_at_entry_;
};

/// Creates, pushes and starts a transaction (SPEC §1.1). If the start fails
/// the transaction is popped, its connection returned and the error propagated.
transaction_scope begin(std::shared_ptr<db::database> database, std::int64_t user,
                        transaction_options options = {});

/// A transaction with its own connection on the current one's database, user,
/// context and close flag; readonly defaults to false and the timeout is not inherited.
transaction_scope new_transaction(transaction_options options = {});

/// Runs `fn(txn)` in a new transaction: commits on normal return, rolls back on exception.
template <class Fn>
decltype(auto) with_transaction(std::shared_ptr<db::database> database, std::int64_t user,
                                transaction_options options, Fn&& fn) {
    auto scope = begin(std::move(database), user, std::move(options));
    return std::forward<Fn>(fn)(scope.get());
}

/// Pushes another reference to a started transaction (Tryton's
/// set_current_transaction); ending the scope pops exactly that reference.
class [[nodiscard]] reference_scope {
public:
    explicit reference_scope(transaction& txn);
    reference_scope(reference_scope&& other) noexcept;
    reference_scope& operator=(reference_scope&&) = delete;
    ~reference_scope();

private:
    std::shared_ptr<transaction> txn_;
    int uncaught_at_entry_;
};

reference_scope set_current_transaction(transaction& txn);

}  // namespace atrium
