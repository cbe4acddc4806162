#pragma once
// One PostgreSQL connection (database/database.hpp `connection`) through
// libpqxx 6.4, whose waits suspend the calling fiber instead of its thread.
//
// * libpqxx opens and owns the connection (connect, quoting, notices,
//   PQfinish); statements go through its libpq handle directly, handed over
//   by libpqxx's documented extension point, a connection policy. libpqxx
//   6.4's only non-blocking path, pqxx::pipeline, costs a dummy `SELECT 1`
//   per batch, an extra recv() per result, and a cancel request when one is
//   dropped with a reply pending. Here a statement (with the deferred BEGIN in
//   the same query string) is sent with PQsendQuery, then
//   `while (PQisBusy) { hooks.wait_readable(sock); PQconsumeInput; }` waits
//   through the wait hooks (a fiber suspends; the default polls). BEGIN,
//   COMMIT, ROLLBACK and SAVEPOINT are statements sent the same way.
// * The COMMIT of a read-only transaction whose statements were all plain
//   reads is sent without waiting for its reply, which is taken in before
//   the connection's next statement (or by looks_alive()). Such a
//   transaction changed nothing, so no caller can depend on the outcome; it
//   saves one round trip per read-only call. A pooled connection does not
//   even send it at commit(): it goes first in the next user's first round
//   trip (`COMMIT; BEGIN ...; <statement>`), or the pool sends it when the
//   connection has sat idle for a millisecond (pg_pool::give_back).
// * Waits go through a socket_watch when the hooks make one: the socket stays
//   registered with the thread's event loop between waits (made again when
//   the connection is used on another thread; the pool prefers connections
//   and waiters of the releasing thread).
// * Transactions: `BEGIN ISOLATION LEVEL REPEATABLE READ` (+ ` READ ONLY`);
//   a statement timeout is `SET LOCAL statement_timeout = <ms>` inside the
//   transaction, so it ends with it. Autocommit mode sends no BEGIN; its
//   read-only flag and timeout are session settings (set_config(..., false))
//   that are reset (RESET ALL) when the session ends (commit()/rollback()).
//   Without a timeout the server's default applies (0, disabled, unless the
//   server or role configures one).
// * A call's limits (begin_options::until / cancel, database/call_limits.hpp):
//   no statement is sent once the deadline has passed or the call is
//   cancelled (timeout_error, 57014); the statement timeout becomes the time
//   left, `SET LOCAL statement_timeout` batched with the next statement
//   whenever the one in force exceeds the time left by more than 5 % (at
//   least 20 ms), so the server cancels a statement at the deadline. A
//   cancellation sends a cancel request (PQcancel) for the running statement;
//   the connection is discarded afterwards (a late cancel request could hit
//   its next user's statement).
// * Parameters: `?` or `$1..$n` placeholders are replaced by literals quoted
//   by libpqxx (pg_expand_placeholders in pg_sql.hpp: the simple-query
//   protocol, which batches the deferred BEGIN, has no bound parameters).
// * Plain DML (SELECT, INSERT, UPDATE, DELETE) runs as `EXECUTE atrium_n(
//   <literals>)` of a statement prepared once per connection and parameter
//   types (int8, float8, bytea, or unknown for text and NULL: inferred as a
//   quoted literal is). It is prepared only in a transaction's first round
//   trip, before the deferred BEGIN (`PREPARE ...; BEGIN; EXECUTE ...`), where
//   a failed PREPARE aborts nothing: the statement then runs as literal text
//   for good. A statement outdated by a schema change (0A000 cached plan) or
//   dropped by the session (26000) fails retryably and the cache is
//   forgotten; DISCARD ALL forgets it too. `?prepare=false` turns it off.
// * Results are typed by column type: int2/int4/int8 -> int64, float4/float8
//   -> double, numeric -> string (exact), bool -> int64 0/1, bytea -> blob,
//   NULL -> null, anything else -> string (PostgreSQL's text form).
//   affected_rows is PostgreSQL's row count, except that row-returning reads
//   (SELECT, VALUES, TABLE, SHOW, EXPLAIN) report 0 as on SQLite.
// * Errors become the database error tree with a SQLSTATE (pg_errors.hpp),
//   carrying the statement text as written (placeholders, not values). A
//   connection lost while COMMIT was under way is an in_doubt_error.
// * A broken connection stays broken: after a lost connection (any
//   broken_connection, an 08xxx/57P0x SQLSTATE, libpqxx reporting the
//   connection closed, or a wait interrupted mid-statement) every later call
//   throws a retryable operational_error (08003) without touching libpqxx, so
//   libpqxx 6.4's silent reconnect can never run a statement outside the
//   transaction (reactivation is also inhibited). The pool discards it.
// * Session state left behind by users (a statement starting with SET
//   without LOCAL, RESET, LISTEN, PREPARE, DECLARE, CREATE TEMP..., or any
//   call of set_config) marks the connection for `DISCARD ALL` when it goes
//   back to the pool (reset()); this is a lexical check of each statement.
// * Not thread-safe: one fiber uses a connection at a time. Connecting is a
//   blocking libpq call (about 3 ms on loopback); the server issue moves it to
//   a worker pool.
// * Implemented across several files, one purpose each (listed in
//   pg_connection_parts.hpp).

#include "database/database.hpp"
#include "database/errors.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_result;  // libpq's PGresult
struct pg_cancel;  // libpq's PGcancel

namespace atrium::db {

/// Settings shared by the backend, its databases and their connections.
struct pg_settings {
    /// How to wait (both hooks always set: defaults sleep / poll the thread).
    wait_hooks hooks;
    /// Most connections per database (in use + idle); `?pool_size=N`.
    std::atomic<std::size_t> pool_size{10};
    /// Longest wait for a free connection when the pool is exhausted;
    /// `?pool_wait_ms=N`, default `retry` × 1000 ms (SPEC §1.2: wait 1 s and
    /// retry up to database.retry times).
    std::atomic<std::chrono::milliseconds> pool_wait{std::chrono::milliseconds(5000)};
    /// Idle connections older than this are closed by the next acquire or
    /// release (`database.timeout`); `?idle_timeout_s=S` (may be fractional).
    std::atomic<std::chrono::milliseconds> idle_timeout{std::chrono::seconds(1800)};
    /// `database.retry`, `?retry=N`.
    std::atomic<int> retry{5};
    /// Plain DML goes through server-side prepared statements, prepared with
    /// the first round trip of a transaction; `?prepare=false` turns it off.
    std::atomic<bool> prepare_statements{true};

    /// Settings with `hooks`; empty hooks get the thread-blocking defaults.
    static std::shared_ptr<pg_settings> make(wait_hooks hooks = {});
};

class pg_connection final : public connection {
public:
    /// Connects (blocking libpq connect) with a libpq conninfo string.
    /// `label` names the database in errors. Throws database_error (a failed
    /// connect is a retryable operational_error, SQLSTATE 08006 or 53300).
    pg_connection(const std::string& conninfo, std::string label,
                  std::shared_ptr<const pg_settings> settings);
    ~pg_connection() override;

    pg_connection(const pg_connection&) = delete;
    pg_connection& operator=(const pg_connection&) = delete;

    // --- connection ---
    /// Throws programming_error when a transaction (or autocommit session) is open.
    void begin(const begin_options& options) override;
    /// True between begin() and commit()/rollback(), and whenever a
    /// transaction block is open on the server as far as this connection
    /// knows (also one opened by executing "BEGIN").
    bool in_transaction() const override;
    bool readonly() const override { return readonly_; }
    result execute(std::string_view sql, const std::vector<value>& params = {}) override;
    /// COMMIT. After an error left the transaction aborted, it rolls back and
    /// throws an error of the earlier error's class ("the transaction was
    /// rolled back"), so a swallowed error never passes for a commit. A lost
    /// connection during COMMIT throws in_doubt_error.
    void commit() override;
    /// ROLLBACK; a no-op without a transaction and on a broken connection
    /// (the server rolled back when the connection went).
    void rollback() override;
    void savepoint(std::string_view name) override;
    void release_savepoint(std::string_view name) override;
    void rollback_to_savepoint(std::string_view name) override;
    /// `LOCK TABLE "t" IN EXCLUSIVE MODE NOWAIT`; a held lock fails with 55P03
    /// (retryable). The name must be a plain identifier.
    void lock_table(std::string_view table) override;
    /// `SELECT id FROM "t" WHERE id = ANY('{..}'::bigint[]) FOR UPDATE NOWAIT`;
    /// nothing for no ids.
    void lock_records(std::string_view table, const std::vector<std::int64_t>& ids) override;
    /// The next locks wait up to `wait` (SET LOCAL lock_timeout around them, no NOWAIT).
    void set_lock_wait(std::chrono::milliseconds wait) override { lock_wait_ = wait; }
    void close() noexcept override;
    bool is_open() const override;
    std::string_view backend_name() const override { return "postgresql"; }

    // --- PostgreSQL specifics ---
    /// The connection was lost (or its state is unknown): the pool discards it.
    bool broken() const noexcept { return broken_; }
    /// The server process id of this connection (0 once closed or broken).
    int backend_pid() const noexcept;
    /// A SQL literal for `v`, quoted by libpqxx: NULL, integers as digits
    /// (negative ones in parentheses, the smallest as '...'::int8), doubles as '<shortest exact>'::float8
    /// (also NaN / Infinity), text with quote(), blobs as '\x..'::bytea.
    /// Text with a NUL byte is a programming_error (PostgreSQL text cannot hold it).
    std::string literal(const value& v);
    /// A double-quoted identifier (libpqxx quote_name).
    std::string quote_name(std::string_view name);
    /// Runs a statement whose success decides a transaction (COMMIT, COMMIT
    /// PREPARED ...): a connection lost meanwhile is an in_doubt_error, never
    /// retried. Parameters as execute().
    result execute_decisive(std::string_view sql, const std::vector<value>& params = {});
    /// For the pool: ends whatever the last user left (ROLLBACK of an open
    /// transaction, RESET ALL / DISCARD ALL of session state). False, and the
    /// connection is broken, if that failed.
    bool reset() noexcept;
    /// True unless broken, closed, or the server already closed (or wrote to)
    /// the idle socket: a non-blocking poll(), no round trip. First takes in
    /// the reply to a read-only COMMIT sent without waiting, if it has come.
    bool looks_alive() noexcept;
    /// Whether session state must be discarded before the next user.
    bool session_state_dirty() const noexcept { return session_dirty_; }
    /// The statement timeout of the current transaction, if any.
    std::optional<std::chrono::milliseconds> statement_timeout() const noexcept { return timeout_; }
    /// When the connection last went idle (set by the pool).
    std::chrono::steady_clock::time_point idle_since() const noexcept { return idle_since_; }
    void set_idle_since(std::chrono::steady_clock::time_point when) noexcept { idle_since_ = when; }
    /// A read-only COMMIT is still to be sent (commit() of a pooled
    /// connection leaves it for the next round trip or for the pool).
    bool has_unsent_commit() const noexcept { return pending_commit_ == pending_commit::unsent; }
    /// Sends that COMMIT now, without waiting for its reply (the pool, before
    /// a connection goes idle: an idle connection must not keep a transaction
    /// open on the server).
    void send_unsent_commit() noexcept { send_unsent_commit(false); }
    /// Its socket is watched by the calling thread's event loop (the pool
    /// prefers such connections: waiting on them registers nothing).
    bool watched_here() const noexcept;

private:
    struct handles;
    /// `statement` with NOWAIT, or waiting up to lock_wait_ (lock_timeout).
    void lock_waiting(const std::string& statement);
    enum class statement_kind { normal, decisive };

    /// Sends one statement (already expanded), waits for its result through
    /// the hooks and converts it; errors are translated (`shown` is the text
    /// errors report). `reads`: report 0 affected rows.
    enum class prepare_outcome { none, prepared, failed };
    /// `prepare`: a PREPARE sent first, before the deferred BEGIN; *outcome
    /// says whether it succeeded (also when a later statement then fails). If
    /// it failed, run() returns nothing and nothing else of the batch ran (the
    /// deferred BEGIN is pending again).
    result run(const std::string& text, std::string_view shown, statement_kind kind, bool reads = false,
               const std::string& prepare = {}, prepare_outcome* outcome = nullptr);
    /// run() through a server-side prepared statement when the statement is
    /// plain DML (prepared at the start of a transaction, with its first
    /// statement's round trip), else as literal text.
    result run_maybe_prepared(std::string_view sql, const std::vector<value>& params,
                              const std::vector<std::string>& words, statement_kind kind);
    result run_and_convert(std::string_view sql, const std::vector<value>& params, statement_kind kind);
    /// Throws the error of a lost connection (in_doubt_error when `kind` is
    /// decisive) and marks the connection broken.
    [[noreturn]] void fail_lost(std::string_view why, std::string state, std::string_view shown,
                                statement_kind kind);
    /// Throws the error a server error result stands for.
    [[noreturn]] void fail_server(const ::pg_result* failed, std::string_view shown, statement_kind kind);
    /// `yield_first`: let the thread's other fibers run once before the
    /// first wait (under load the reply is often in by then).
    bool wait_until_result_ready(bool yield_first = true);
    /// Waits through the socket watch (made on first use, and again on
    /// another thread), else through hooks.wait_readable.
    void wait_readable(int fd);
    bool absorb_unread_commit(bool may_wait);
    /// Sends a read-only COMMIT, its reply read later; `force`: even if none is pending.
    void send_unsent_commit(bool force) noexcept;
    void require_usable(std::string_view sql) const;
    void require_block(std::string_view sql) const;
    void track_statement(const std::vector<std::string>& words, bool succeeded) noexcept;
    void end_session() noexcept;
    void mark_broken() noexcept;
    void apply_session_defaults();
    /// Before a statement: refuses it past the deadline or once cancelled,
    /// and queues a lower statement timeout when the time left calls for one.
    void apply_call_limits(std::string_view shown);
    /// The canceller registered while a statement of a cancellable call runs.
    void send_cancel_request() noexcept;

    std::unique_ptr<handles> h_;
    std::shared_ptr<const pg_settings> settings_;
    std::string label_;
    int pid_ = 0;

    // What begin() started, until commit()/rollback() (end_session()).
    enum class session_state {
        none,
        transaction,  // a transaction block (block_ follows it)
        autocommit,   // statements on their own, under session settings that end_session() RESETs
    };
    // The transaction block on the server, as far as this connection knows.
    // Not the session: an autocommit session has no block unless the user
    // executes BEGIN, and a block opened by executing BEGIN has no session.
    enum class block_state {
        none,
        deferred,  // begin() ran; BEGIN (and SET LOCAL) wait in deferred_ for the first statement
        open,      // sent: the block is open on the server
        aborted,   // ...and an error aborted it (only ROLLBACK [TO SAVEPOINT] gets out)
    };
    // The last read-only COMMIT, whose reply no caller waits for. Not part of
    // block_: it outlives its transaction (block_ is none, or already the next
    // user's deferred block, with whose first round trip it goes).
    enum class pending_commit {
        none,
        unsent,  // not sent yet (commit() of a pooled connection)
        unread,  // sent, its reply not read yet
    };
    session_state session_ = session_state::none;
    block_state block_ = block_state::none;
    pending_commit pending_commit_ = pending_commit::none;
    // BEGIN (and SET LOCAL) not sent yet (block_ deferred): they go in one
    // round trip with the transaction's first statement; a transaction
    // without one sends nothing.
    std::vector<std::string> deferred_;
    // Flags that are no state of the machines above, each for its own reason:
    // * readonly_: a mode of the session, transaction and autocommit alike.
    // * only_reads_: every statement since begin() was a plain read (a
    //   read-only COMMIT then goes unconfirmed); it follows statements, not
    //   the block (an autocommit session's statements clear it too).
    // * session_dirty_: user session state (DISCARD ALL on reset()), which
    //   outlives transactions and sessions alike.
    // * broken_: the connection was lost; final, whatever the states above
    //   say (they are reset to none; close() keeps it).
    bool readonly_ = false;
    bool only_reads_ = true;
    // Prepared statements of this session: key (SQL text + parameter types)
    // -> name, or "" when it could not be prepared.
    static constexpr std::size_t k_max_prepared = 256;
    std::unordered_map<std::string, std::string> prepared_;
    std::uint64_t prepared_count_ = 0;
    bool session_dirty_ = false;
    bool broken_ = false;
    std::chrono::milliseconds lock_wait_{0};  // set_lock_wait(); back to 0 at begin()
    std::optional<std::chrono::milliseconds> timeout_;
    // The call's limits, from begin() until the session ends.
    deadline until_{};
    cancellation* cancel_ = nullptr;
    // The statement timeout this transaction set (0: none set).
    std::chrono::milliseconds applied_timeout_{0};
    ::pg_cancel* cancel_handle_ = nullptr;  // PQgetCancel, made for the first cancellable call
    std::atomic<bool> cancel_sent_{false};  // a cancel request went out: discard the connection
    // The error that aborted the transaction block (for commit()'s error).
    error_category aborted_category_ = error_category::other;
    std::string aborted_code_;
    std::string aborted_message_;
    std::chrono::steady_clock::time_point idle_since_{};
    std::unique_ptr<socket_watch> watch_;  // before h_ closes: it holds a dup of the socket
    int watched_fd_ = -1;

    // Pool bookkeeping (pg_pool): checked out of a pool, which sends a
    // read-only COMMIT left unsent by commit() (see above).
    friend class pg_pool;
    bool checked_out_ = false;
};

}  // namespace atrium::db
