#include "database/sqlite/sqlite_connection.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/sqlite/sqlite_backend.hpp"
#include "database/sqlite/sqlite_connection_parts.hpp"
#include "database/sqlite/sqlite_errors.hpp"
#include "database/sqlite/sqlite_group_commit.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <thread>
#include <type_traits>
#include <utility>

namespace atrium::db {

using sqlite_detail::throw_misuse;

namespace {

// Never wait inside SQLite (that would sleep the OS thread and every fiber on
// it): report SQLITE_BUSY at once and let the caller back off through the hooks.
int no_wait_busy_handler(void*, int) { return 0; }

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
    if (primary == SQLITE_INTERRUPT && interrupted_by_ == interrupt::statement_timeout && timeout_) {
        throw_sqlite_error(code,
                           "canceling statement due to statement timeout (" +
                               std::to_string(timeout_->count()) + " ms)",
                           std::string(sql));
    }
    if (primary == SQLITE_INTERRUPT && interrupted_by_ != interrupt::none) {
        throw_deadline_passed("running \"" + std::string(sql.substr(0, 60)) + "\"",
                              interrupted_by_ == interrupt::call_cancelled);
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

}  // namespace atrium::db
