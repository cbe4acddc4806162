#include "database/sqlite/sqlite_connection.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/sqlite/sqlite_backend.hpp"
#include "database/sqlite/sqlite_errors.hpp"
#include "database/sqlite/sqlite_group_commit.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <type_traits>
#include <utility>

namespace atrium::db {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

constexpr auto k_first_backoff = milliseconds(1);
constexpr auto k_max_backoff = milliseconds(20);
// The progress handler runs every this many virtual-machine instructions:
// a few microseconds of work, so the deadline is overshot by very little.
constexpr int k_progress_period = 1000;

bool is_busy(int code) {
    const int primary = code & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

// Never wait inside SQLite (that would sleep the OS thread and every fiber on
// it): report SQLITE_BUSY at once and let the caller back off through the hooks.
int no_wait_busy_handler(void*, int) { return 0; }

std::string primary_misuse_code() { return sqlite_code_name(SQLITE_MISUSE); }

[[noreturn]] void throw_misuse(std::string message, std::string_view sql = {}) {
    throw programming_error(std::move(message), error_category::programming,
                            primary_misuse_code(), SQLITE_MISUSE, std::string(sql));
}

}  // namespace

std::shared_ptr<sqlite_settings> sqlite_settings::make(wait_hooks hooks) {
    auto settings = std::make_shared<sqlite_settings>();
    if (!hooks.sleep_for) {
        hooks.sleep_for = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
    }
    settings->hooks = std::move(hooks);
    return settings;
}

std::string sqlite_quote_identifier(std::string_view name) {
    std::string quoted;
    quoted.reserve(name.size() + 2);
    quoted.push_back('"');
    for (char c : name) {
        if (c == '"') quoted.push_back('"');
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

bool is_plain_identifier(std::string_view name) noexcept {
    if (name.empty()) return false;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!alpha(name.front())) return false;
    return std::all_of(name.begin(), name.end(), [&](char c) { return alpha(c) || digit(c); });
}

// ---------------------------------------------------------------------------
// Opening and closing

sqlite_connection::sqlite_connection(const open_params& params,
                                     std::shared_ptr<const sqlite_settings> settings)
    : settings_(std::move(settings)), target_(params.target) {
    if (!settings_) settings_ = sqlite_settings::make();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (params.create) flags |= SQLITE_OPEN_CREATE;
    if (params.uri) flags |= SQLITE_OPEN_URI;
#ifdef SQLITE_OPEN_EXRESCODE
    flags |= SQLITE_OPEN_EXRESCODE;
#endif
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(params.target.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const int code = db ? sqlite3_extended_errcode(db) : rc;
        std::string message = "cannot open SQLite database \"" + params.target + "\": " +
                              (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        throw_sqlite_error(code, message);
    }
    db_ = db;
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, &no_wait_busy_handler, nullptr);
    // Double-quoted strings are identifiers only, as in PostgreSQL (SQLite's
    // legacy fallback to a string literal hides typos in column names).
    sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
    sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
    try {
        if (params.wal) {
            std::string mode;
            run_with_busy_retry("PRAGMA journal_mode=WAL", &mode);
            if (mode != "wal") {
                throw operational_error("cannot switch SQLite database \"" + params.target +
                                            "\" to WAL mode (journal_mode is \"" + mode + "\")",
                                        error_category::other, sqlite_code_name(SQLITE_CANTOPEN),
                                        SQLITE_CANTOPEN, "PRAGMA journal_mode=WAL");
            }
            // Keep the -wal and -shm files when the last connection closes: a
            // restart on a full disk can then still read (creating the -shm
            // needs room; SQLITE_IOERR_SHMSIZE otherwise). drop() removes them.
            int persist = 1;
            sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        }
        // synchronous=FULL: in WAL mode the WAL is fsync'ed at every commit, so
        // a commit that was acknowledged survives a power loss (NORMAL cannot
        // corrupt the database but may lose the last commits). It costs about
        // 100 us per write transaction on this class of machine (notes §3).
        run_with_busy_retry("PRAGMA synchronous=FULL");
        run_with_busy_retry("PRAGMA foreign_keys=ON");
        // LIKE is case-sensitive, as in PostgreSQL. Set once here: the pragma
        // re-registers LIKE, which expires every prepared statement.
        run_with_busy_retry("PRAGMA case_sensitive_like=ON");
    } catch (...) {
        close();
        throw;
    }
}

sqlite_connection::~sqlite_connection() {
    close();
}

void sqlite_connection::close() noexcept {
    if (writer_) group_->rollback_member(*this);
    clear_cache();
    if (db_) {
        sqlite3_progress_handler(db_, 0, nullptr, nullptr);
        // Closing rolls back an open transaction.
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
    session_ = false;
    mode_ = mode::none;
    readonly_ = false;
    timeout_.reset();
    give_back_write_turn();
}

// ---------------------------------------------------------------------------
// Statement cache

sqlite3_stmt* sqlite_connection::prepare_cached(std::string_view sql) {
    if (auto it = cache_.find(sql); it != cache_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->stmt;
    }
    if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        throw_sqlite_error(SQLITE_TOOBIG, "SQL text too long", std::string(sql));
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
        std::string message = sqlite3_errmsg(db_);
        sqlite3_finalize(stmt);
        fail(rc, message, sql);
    }
    if (!stmt) {
        throw_misuse("execute() needs one SQL statement, got none", sql);
    }
    // Exactly one statement: anything after it but whitespace and comments is refused
    // (it would silently not run).
    const char* end = sql.data() + sql.size();
    if (tail && tail < end) {
        sqlite3_stmt* extra = nullptr;
        const int tail_rc =
            sqlite3_prepare_v3(db_, tail, static_cast<int>(end - tail), 0, &extra, nullptr);
        const bool more = extra != nullptr || tail_rc != SQLITE_OK;
        sqlite3_finalize(extra);
        if (more) {
            sqlite3_finalize(stmt);
            throw_misuse("execute() runs one SQL statement at a time; split the statements", sql);
        }
    }
    if (cache_.size() >= settings_->statement_cache_capacity && !lru_.empty()) {
        auto& oldest = lru_.back();
        cache_.erase(oldest.sql);
        sqlite3_finalize(oldest.stmt);
        lru_.pop_back();
    }
    lru_.push_front(cached_statement{std::string(sql), stmt});
    cache_.emplace(lru_.front().sql, lru_.begin());
    return stmt;
}

void sqlite_connection::clear_cache() noexcept {
    cache_.clear();
    for (auto& entry : lru_) sqlite3_finalize(entry.stmt);
    lru_.clear();
}

namespace {

// Resets a cached statement and drops its bindings whatever happens.
class statement_guard {
public:
    explicit statement_guard(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~statement_guard() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    statement_guard(const statement_guard&) = delete;
    statement_guard& operator=(const statement_guard&) = delete;

private:
    sqlite3_stmt* stmt_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Errors

void sqlite_connection::fail(int code, std::string_view message, std::string_view sql) {
    const int primary = code & 0xff;
    if (sqlite_code_breaks_connection(code)) broken_ = true;
    if (primary == SQLITE_READONLY && readonly_) {
        throw_sqlite_error(code,
                           "cannot write in a read-only transaction: " + std::string(message),
                           std::string(sql));
    }
    if (primary == SQLITE_INTERRUPT && timed_out_ && timeout_) {
        throw_sqlite_error(code,
                           "canceling statement due to statement timeout (" +
                               std::to_string(timeout_->count()) + " ms)",
                           std::string(sql));
    }
    throw_sqlite_error(code, message, std::string(sql));
}

void sqlite_connection::require_open(std::string_view sql) const {
    if (!db_) throw_misuse("the SQLite connection is closed", sql);
}

// After some errors (SQLITE_INTERRUPT on a write, SQLITE_FULL, SQLITE_IOERR,
// SQLITE_NOMEM...) SQLite rolls the whole transaction back by itself. Running
// further statements would then commit each of them on its own: refuse.
void sqlite_connection::require_live_transaction(std::string_view sql) {
    if (session_ && (mode_ == mode::deferred || mode_ == mode::immediate) &&
        sqlite3_get_autocommit(db_)) {
        throw_sqlite_error(SQLITE_ABORT_ROLLBACK,
                           "the transaction was already rolled back by SQLite after an earlier "
                           "error; roll back and start a new transaction",
                           std::string(sql));
    }
}

void sqlite_connection::require_savepoint_context(std::string_view sql) {
    require_open(sql);
    if (sqlite3_get_autocommit(db_)) {
        require_live_transaction(sql);
        throw_misuse("savepoints need an open transaction (begin() without autocommit)", sql);
    }
}

// ---------------------------------------------------------------------------
// Running statements

result sqlite_connection::execute(std::string_view sql, const std::vector<value>& params) {
    if (writer_) return writer_->execute(sql, params);
    require_open(sql);
    require_live_transaction(sql);
    sqlite3_stmt* stmt = prepare_cached(sql);
    statement_guard guard(stmt);
    // Not PRAGMA query_only: toggling it expires every prepared statement, so
    // each read-only transaction would re-parse all of them.
    if (readonly_ && !sqlite3_stmt_readonly(stmt)) {
        fail(SQLITE_READONLY, "attempt to write a readonly database", sql);
    }

    const int expected = sqlite3_bind_parameter_count(stmt);
    if (expected < 0 || static_cast<std::size_t>(expected) != params.size()) {
        throw_sqlite_error(SQLITE_RANGE,
                           "statement expects " + std::to_string(expected) +
                               " parameter(s), got " + std::to_string(params.size()),
                           std::string(sql));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        const int index = static_cast<int>(i) + 1;
        // The values outlive the statement's use (bindings are cleared by the
        // guard before returning), so SQLite need not copy them.
        const int rc = std::visit(
            [&](const auto& v) -> int {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::nullptr_t>) {
                    return sqlite3_bind_null(stmt, index);
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return sqlite3_bind_int64(stmt, index, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    return sqlite3_bind_double(stmt, index, v);
                } else if constexpr (std::is_same_v<T, std::string>) {
                    return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_STATIC,
                                               SQLITE_UTF8);
                } else {
                    // An empty blob must stay a blob (a null pointer would bind NULL).
                    if (v.bytes.empty()) return sqlite3_bind_zeroblob(stmt, index, 0);
                    return sqlite3_bind_blob64(stmt, index, v.bytes.data(), v.bytes.size(),
                                               SQLITE_STATIC);
                }
            },
            params[i]);
        if (rc != SQLITE_OK) fail(rc, sqlite3_errmsg(db_), sql);
    }

    result out;
    const int columns = sqlite3_column_count(stmt);
    out.columns.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
        const char* name = sqlite3_column_name(stmt, c);
        out.columns.emplace_back(name ? name : "");
    }

    if (timeout_) {
        timed_out_ = false;
        deadline_ = steady_clock::now() + *timeout_;
    }
    const sqlite3_int64 changes_before = sqlite3_total_changes64(db_);
    for (;;) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) fail(rc, sqlite3_errmsg(db_), sql);
        row r;
        r.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
            switch (sqlite3_column_type(stmt, c)) {
            case SQLITE_INTEGER:
                r.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
                break;
            case SQLITE_FLOAT:
                r.emplace_back(sqlite3_column_double(stmt, c));
                break;
            case SQLITE_TEXT: {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
                const int size = sqlite3_column_bytes(stmt, c);
                r.emplace_back(std::string(text ? text : "", static_cast<std::size_t>(size)));
                break;
            }
            case SQLITE_BLOB: {
                const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, c));
                const int size = sqlite3_column_bytes(stmt, c);
                blob b;
                if (data && size > 0) b.bytes.assign(data, data + size);
                r.emplace_back(std::move(b));
                break;
            }
            default:
                r.emplace_back(nullptr);
                break;
            }
        }
        out.rows.push_back(std::move(r));
    }
    // sqlite3_changes64() keeps the count of the last INSERT/UPDATE/DELETE
    // even after other statements: only trust it when this one changed rows.
    if (sqlite3_total_changes64(db_) != changes_before) out.affected_rows = sqlite3_changes64(db_);
    return out;
}

int sqlite_connection::step_control(std::string_view sql, std::string& message,
                                    std::string* first_value) {
    sqlite3_stmt* stmt = prepare_cached(sql);
    statement_guard guard(stmt);
    deadline_ = steady_clock::time_point::max();  // control statements are never timed out
    for (;;) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) return SQLITE_OK;
        if (rc == SQLITE_ROW) {
            if (first_value && sqlite3_column_count(stmt) > 0) {
                const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
                *first_value = text ? text : "";
            }
            continue;
        }
        message = sqlite3_errmsg(db_);
        return rc;
    }
}

void sqlite_connection::run_with_busy_retry(std::string_view sql, std::string* first_value) {
    const auto start = steady_clock::now();
    const nanoseconds limit = std::max(milliseconds(0), settings_->busy_wait.load());
    nanoseconds requested{0};
    nanoseconds backoff = k_first_backoff;
    std::string message;
    for (;;) {
        const int rc = step_control(sql, message, first_value);
        if (rc == SQLITE_OK) return;
        if (!is_busy(rc)) fail(rc, message, sql);
        // Count both what was asked of the hook and the time that really went
        // by: a hook may sleep longer than asked, or (in tests) not at all.
        const nanoseconds waited = std::max(requested, nanoseconds(steady_clock::now() - start));
        if (waited >= limit) {
            throw_sqlite_error(
                rc,
                "gave up on \"" + std::string(sql) + "\" after waiting " +
                    std::to_string(std::chrono::duration_cast<milliseconds>(waited).count()) +
                    " ms for the database lock: " + message,
                std::string(sql));
        }
        const nanoseconds pause = std::min(backoff, limit - waited);
        settings_->hooks.sleep_for(pause);
        requested += pause;
        backoff = std::min<nanoseconds>(backoff * 2, k_max_backoff);
    }
}

// ---------------------------------------------------------------------------
// Transactions

bool sqlite_connection::in_transaction() const {
    return session_ || (db_ && !sqlite3_get_autocommit(db_));
}

bool sqlite_connection::refuses_writes() const { return !writer_ && db_ && readonly_; }

std::int64_t sqlite_connection::reprepare_count() const {
    if (writer_) return writer_->reprepare_count();
    std::int64_t total = 0;
    for (const auto& entry : lru_) {
        total += sqlite3_stmt_status(entry.stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
    }
    return total;
}

void sqlite_connection::install_timeout(std::chrono::milliseconds timeout) {
    timeout_ = timeout;
    timed_out_ = false;
    deadline_ = steady_clock::time_point::max();
    sqlite3_progress_handler(db_, k_progress_period, &sqlite_connection::on_progress, this);
}

void sqlite_connection::clear_timeout() noexcept {
    if (db_) sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    timeout_.reset();
    timed_out_ = false;
}

int sqlite_connection::on_progress(void* self) noexcept {
    auto* conn = static_cast<sqlite_connection*>(self);
    if (steady_clock::now() < conn->deadline_) return 0;
    conn->timed_out_ = true;
    return 1;  // SQLITE_INTERRUPT
}

void sqlite_connection::begin(const begin_options& options) {
    require_open("BEGIN");
    if (in_transaction()) {
        throw_misuse("a transaction is already open on this connection", "BEGIN");
    }
    const char* sql = options.autocommit ? nullptr : options.readonly ? "BEGIN" : "BEGIN IMMEDIATE";
    if (!options.autocommit && !options.readonly && group_ && write_gate_ &&
        settings_->hooks.make_waker) {
        take_write_turn();
        batching_allowed_ = true;
        try {
            writer_ = &group_->begin_member(options);
        } catch (...) {
            end_session();
            throw;
        }
        session_ = true;
        mode_ = mode::immediate;
        readonly_ = false;
        return;
    }
    try {
        readonly_ = options.readonly;
        if (!options.autocommit && !options.readonly) take_write_turn();
        if (sql) run_with_busy_retry(sql);
    } catch (...) {
        end_session();
        throw;
    }
    session_ = true;
    mode_ = options.autocommit ? mode::autocommit
            : options.readonly ? mode::deferred
                               : mode::immediate;
    // A zero or negative timeout means none, as statement_timeout=0 in PostgreSQL.
    if (options.statement_timeout && options.statement_timeout->count() > 0) {
        install_timeout(*options.statement_timeout);
    }
}

void sqlite_connection::end_session() noexcept {
    clear_timeout();
    give_back_write_turn();
    readonly_ = false;
    session_ = false;
    mode_ = mode::none;
}

void sqlite_connection::take_write_turn() {
    if (!write_gate_ || !settings_->hooks.make_waker || holds_write_turn_) return;
    const auto start = steady_clock::now();
    const nanoseconds limit = std::max(milliseconds(0), settings_->busy_wait.load());
    if (!write_gate_->acquire(settings_->hooks.make_waker, limit)) {
        const auto waited = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
        throw_sqlite_error(SQLITE_BUSY,
                           "gave up on \"BEGIN IMMEDIATE\" after waiting " + std::to_string(waited.count()) +
                               " ms for the database lock: another transaction of this process writes",
                           "BEGIN IMMEDIATE");
    }
    holds_write_turn_ = true;
}

void sqlite_connection::give_back_write_turn() noexcept {
    if (!holds_write_turn_) return;
    holds_write_turn_ = false;
    turn_passed_here_ = write_gate_->release();
}

void sqlite_connection::commit() {
    if (writer_) {
        bool passed_here = false;
        try {
            passed_here = group_->commit_member(*this, batching_allowed_);
        } catch (...) {
            if (!writer_) end_session();  // ended without committing; else still open
            throw;
        }
        end_session();
        if (passed_here && settings_->hooks.yield) settings_->hooks.yield();
        return;
    }
    require_open("COMMIT");
    clear_timeout();  // COMMIT itself must never be interrupted
    if (session_ && mode_ != mode::autocommit && sqlite3_get_autocommit(db_)) {
        end_session();
        throw_sqlite_error(SQLITE_ABORT_ROLLBACK,
                           "COMMIT failed: SQLite had already rolled the transaction back after "
                           "an earlier error",
                           "COMMIT");
    }
    if (!sqlite3_get_autocommit(db_)) {
        try {
            run_with_busy_retry("COMMIT");
        } catch (...) {
            // Still open (e.g. a deferred foreign key failed): the caller rolls back.
            if (sqlite3_get_autocommit(db_)) end_session();
            throw;
        }
    }
    turn_passed_here_ = false;
    end_session();
    // The next writer waits on this thread: let it take the lock now rather
    // than after this caller's response (the lock is the bottleneck).
    if (turn_passed_here_ && settings_->hooks.yield) {
        turn_passed_here_ = false;
        settings_->hooks.yield();
    }
}

void sqlite_connection::rollback() {
    if (writer_) {
        group_->rollback_member(*this);
        end_session();
        return;
    }
    if (!db_) {
        end_session();
        return;
    }
    clear_timeout();
    if (!sqlite3_get_autocommit(db_)) {
        std::string message;
        const int rc = step_control("ROLLBACK", message);
        if (rc != SQLITE_OK) {
            broken_ = true;
            end_session();
            fail(rc, message, "ROLLBACK");
        }
    }
    end_session();
}

bool sqlite_connection::reset() noexcept {
    if (!db_) return false;
    try {
        if (in_transaction()) rollback();
        else end_session();
    } catch (const std::exception&) {
        broken_ = true;
    }
    return !broken_;
}

void sqlite_connection::savepoint(std::string_view name) {
    if (writer_) return writer_->savepoint(name);
    const std::string sql = "SAVEPOINT " + sqlite_quote_identifier(name);
    require_savepoint_context(sql);
    execute(sql);
}

void sqlite_connection::release_savepoint(std::string_view name) {
    if (writer_) return writer_->release_savepoint(name);
    const std::string sql = "RELEASE SAVEPOINT " + sqlite_quote_identifier(name);
    require_savepoint_context(sql);
    execute(sql);
}

void sqlite_connection::rollback_to_savepoint(std::string_view name) {
    if (writer_) return writer_->rollback_to_savepoint(name);
    const std::string sql = "ROLLBACK TO SAVEPOINT " + sqlite_quote_identifier(name);
    require_savepoint_context(sql);
    execute(sql);
}

void sqlite_connection::lock_table(std::string_view table) {
    require_open("LOCK TABLE");
    if (!is_plain_identifier(table)) {
        throw_misuse("lock_table: \"" + std::string(table) +
                     "\" is not a plain table name ([A-Za-z_][A-Za-z0-9_]*)");
    }
}

void sqlite_connection::lock_records(std::string_view table, const std::vector<std::int64_t>&) {
    require_open("SELECT ... FOR UPDATE");
    if (!is_plain_identifier(table)) {
        throw_misuse("lock_records: \"" + std::string(table) +
                     "\" is not a plain table name ([A-Za-z_][A-Za-z0-9_]*)");
    }
}

}  // namespace atrium::db
