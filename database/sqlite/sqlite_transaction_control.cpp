#include "database/sqlite/sqlite_connection.hpp"
#include "database/sqlite/sqlite_connection_parts.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/sqlite/sqlite_group_commit.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <utility>

namespace atrium::db {

using sqlite_detail::throw_misuse;

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

// The progress handler runs every this many virtual-machine instructions:
// a few microseconds of work, so the deadline is overshot by very little.
constexpr int k_progress_period = 1000;

}  // namespace

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
    arm_interrupts();
}

void sqlite_connection::arm_interrupts() {
    interrupted_by_ = interrupt::none;
    deadline_ = steady_clock::time_point::max();
    if (interrupts_armed_ || (!timeout_ && !until_ && !cancel_)) return;
    sqlite3_progress_handler(db_, k_progress_period, &sqlite_connection::on_progress, this);
    interrupts_armed_ = true;
}

void sqlite_connection::clear_timeout() noexcept {
    if (db_ && interrupts_armed_) sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    interrupts_armed_ = false;
    timeout_.reset();
    interrupted_by_ = interrupt::none;
    deadline_ = steady_clock::time_point::max();
}

int sqlite_connection::on_progress(void* self) noexcept {
    auto* conn = static_cast<sqlite_connection*>(self);
    if (!conn->statement_interruptible_) return 0;
    // A client gone away stops the statement at once, as PQcancel does.
    if (conn->cancel_ && conn->cancel_->cancelled()) {
        conn->interrupted_by_ = interrupt::call_cancelled;
        return 1;  // SQLITE_INTERRUPT
    }
    const auto now = steady_clock::now();
    if (now < conn->deadline_) return 0;
    conn->interrupted_by_ =
        conn->until_ && now >= *conn->until_ ? interrupt::call_deadline : interrupt::statement_timeout;
    return 1;
}

void sqlite_connection::begin(const begin_options& options) {
    require_open("BEGIN");
    if (in_transaction()) {
        throw_misuse("a transaction is already open on this connection", "BEGIN");
    }
    const char* sql = options.autocommit ? nullptr : options.readonly ? "BEGIN" : "BEGIN IMMEDIATE";
    until_ = options.until;
    cancel_ = options.cancel;
    try {
        check_call_limits("BEGIN");
    } catch (...) {
        until_.reset();
        cancel_ = nullptr;
        throw;
    }
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
    if (options.statement_timeout && options.statement_timeout->count() > 0) timeout_ = *options.statement_timeout;
    arm_interrupts();
}

void sqlite_connection::forget_call_limits() noexcept {
    clear_timeout();
    until_.reset();
    cancel_ = nullptr;
}

void sqlite_connection::end_session() noexcept {
    forget_call_limits();
    give_back_write_turn();
    readonly_ = false;
    session_ = false;
    mode_ = mode::none;
}

void sqlite_connection::take_write_turn() {
    if (!write_gate_ || !settings_->hooks.make_waker || holds_write_turn_) return;
    const auto start = steady_clock::now();
    bool by_deadline = false;
    const nanoseconds limit = wait_limit(&by_deadline);
    if (!write_gate_->acquire(settings_->hooks.make_waker, limit)) {
        const auto waited = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
        if (by_deadline) {
            throw_deadline_passed("waiting " + std::to_string(waited.count()) +
                                  " ms for the database write lock, held by another transaction of this process");
        }
        throw_sqlite_error(SQLITE_BUSY,
                           "gave up on \"BEGIN IMMEDIATE\" after waiting " + std::to_string(waited.count()) +
                               " ms for the database lock: another transaction of this process writes",
                           "BEGIN IMMEDIATE");
    }
    holds_write_turn_ = true;
}

void sqlite_connection::check_call_limits(std::string_view sql) const {
    if (!until_ && !cancel_) return;
    const auto what = [&] { return "before \"" + std::string(sql.substr(0, 60)) + "\""; };
    if (cancel_ && cancel_->cancelled()) throw_deadline_passed(what(), true);
    if (const auto left = time_left(until_); left && left->count() <= 0) throw_deadline_passed(what());
}

nanoseconds sqlite_connection::wait_limit(bool* by_deadline) const {
    const nanoseconds busy = std::max(milliseconds(0), settings_->busy_wait.load());
    *by_deadline = false;
    if (!until_) return busy;
    const nanoseconds left = std::max(nanoseconds(0), nanoseconds(*until_ - steady_clock::now()));
    if (left >= busy) return busy;
    *by_deadline = true;
    return left;
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
