#include "database/sqlite/sqlite_connection.hpp"
#include "database/sqlite/sqlite_connection_parts.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include <sqlite3.h>

#include <algorithm>
#include <type_traits>
#include <utility>

namespace atrium::db {

using sqlite_detail::throw_misuse;

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

constexpr auto k_first_backoff = milliseconds(1);
constexpr auto k_max_backoff = milliseconds(20);

bool is_busy(int code) {
    const int primary = code & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

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
// Running statements

result sqlite_connection::execute(std::string_view sql, const std::vector<value>& params) {
    check_call_limits(sql);
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

    if (interrupts_armed_) {
        interrupted_by_ = interrupt::none;
        deadline_ = timeout_ ? steady_clock::now() + *timeout_ : steady_clock::time_point::max();
        if (until_ && *until_ < deadline_) deadline_ = *until_;
        statement_interruptible_ = true;
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
    statement_interruptible_ = false;
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
    bool by_deadline = false;
    const nanoseconds limit = wait_limit(&by_deadline);
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
            if (by_deadline) {
                throw_deadline_passed("waiting " +
                                      std::to_string(std::chrono::duration_cast<milliseconds>(waited).count()) +
                                      " ms for the database lock (\"" + std::string(sql) + "\")");
            }
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

}  // namespace atrium::db
