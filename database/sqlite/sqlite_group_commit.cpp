#include "database/sqlite/sqlite_group_commit.hpp"
#include "database/pool_metrics.hpp"

// No catch (...) here: only std::exception is caught, so a fiber's
// forced_unwind (boost::context) passes through unchanged.

#include "database/errors.hpp"
#include "database/sqlite/sqlite_errors.hpp"

#include <sqlite3.h>

#include <chrono>
#include <string_view>
#include <utility>

namespace atrium::db {

namespace {

constexpr std::string_view k_savepoint = "SAVEPOINT atrium_group_member";
constexpr std::string_view k_release = "RELEASE atrium_group_member";
constexpr std::string_view k_rollback_to = "ROLLBACK TO atrium_group_member";
// A batch's COMMIT takes milliseconds; this only bounds a wait that something
// outside SQLite (a fiber stuck elsewhere) would make endless.
constexpr auto k_outcome_wait = std::chrono::hours(1);

constexpr std::string_view k_lost_batch =
    "SQLite rolled back the transaction shared by the group commit after an error";

}  // namespace

struct sqlite_group_commit::member_outcome {
    std::shared_ptr<waker> wake_up;
    int code = SQLITE_OK;
    std::string message;
};

sqlite_group_commit::sqlite_group_commit(sqlite_connection::open_params params,
                                         std::shared_ptr<const sqlite_settings> settings,
                                         std::shared_ptr<sqlite_write_gate> gate)
    : params_(std::move(params)), settings_(std::move(settings)), gate_(std::move(gate)) {
    params_.create = false;  // the writer only ever opens a database that exists
}

sqlite_group_commit::~sqlite_group_commit() { close(); }

bool sqlite_group_commit::batch_lost() const noexcept {
    return batch_open_ && (!writer_ || !writer_->db_ || sqlite3_get_autocommit(writer_->db_));
}

sqlite_connection& sqlite_group_commit::begin_member(const begin_options& options) {
    if (batch_lost()) abandon_batch(SQLITE_ABORT_ROLLBACK, std::string(k_lost_batch));
    if (!batch_open_ && writer_ && (writer_->broken() || !writer_->is_open())) writer_.reset();
    if (!writer_) writer_ = std::make_unique<sqlite_connection>(params_, settings_);
    sqlite_connection& w = *writer_;

    const bool timed = options.statement_timeout && options.statement_timeout->count() > 0;
    // An interrupted write rolls back SQLite's whole transaction: settle the
    // waiting members before a member that may be interrupted starts.
    if (timed && !pending_.empty()) commit_for_waiting();
    // The member's deadline bounds the wait for another process's lock too.
    w.until_ = options.until;
    w.cancel_ = options.cancel;
    if (!batch_open_) {
        try {
            w.run_with_busy_retry("BEGIN IMMEDIATE");  // other processes may hold the lock
        } catch (const std::exception&) {
            w.forget_call_limits();
            throw;
        }
        batch_open_ = true;
    }
    std::string message;
    const int rc = w.step_control(k_savepoint, message);
    if (rc != SQLITE_OK) {
        if (pending_.empty()) abandon_batch(rc, message);
        else commit_for_waiting();
        w.fail(rc, message, k_savepoint);
    }
    w.session_ = true;
    w.mode_ = sqlite_connection::mode::immediate;
    w.readonly_ = false;
    // A deadline alone does not settle the waiting members first: it rarely
    // passes, and when it does they are told to retry (the batch is lost).
    if (timed) w.timeout_ = *options.statement_timeout;
    w.arm_interrupts();
    return w;
}

bool sqlite_group_commit::commit_member(sqlite_connection& member, bool may_wait) {
    sqlite_connection& w = *writer_;
    w.forget_call_limits();  // COMMIT itself must never be interrupted
    if (batch_lost()) {
        abandon_batch(SQLITE_ABORT_ROLLBACK, std::string(k_lost_batch));
        detach(member);
        member.holds_write_turn_ = false;
        gate_->release();
        throw_sqlite_error(SQLITE_ABORT_ROLLBACK,
                           "COMMIT failed: SQLite had already rolled the transaction back after "
                           "an earlier error",
                           "COMMIT");
    }
    // A deferred foreign key left unresolved would fail the batch's COMMIT for
    // everyone: fail this member's commit here, as its own COMMIT would.
    int deferred = 0;
    int highwater = 0;
    sqlite3_db_status(w.db_, SQLITE_DBSTATUS_DEFERRED_FKS, &deferred, &highwater, 0);
    if (deferred > 0) {
        throw_sqlite_error(SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed", "COMMIT");
    }

    // Made before the savepoint goes, so that nothing can fail between the two.
    std::shared_ptr<member_outcome> me;
    if (may_wait && pending_.size() + 1 < k_max_batch && settings_->hooks.make_waker) {
        me = std::make_shared<member_outcome>();
        me->wake_up = settings_->hooks.make_waker();
        pending_.reserve(k_max_batch);
    }
    std::string message;
    const int rc = w.step_control(k_release, message);
    if (rc != SQLITE_OK) w.fail(rc, message, k_release);  // still open: the caller rolls back

    if (me) {
        pending_.push_back(me);
        waiting_count_ = pending_.size();
        if (gate_->pass_to_next()) {
            // The next writer owns the batch now; its last member COMMITs it.
            member.writer_ = nullptr;
            member.holds_write_turn_ = false;
            if (!me->wake_up->wait(k_outcome_wait)) {
                throw in_doubt_error("the group commit this transaction joined did not report "
                                     "its outcome within an hour",
                                     error_category::in_doubt, sqlite_code_name(SQLITE_BUSY),
                                     SQLITE_BUSY, "COMMIT");
            }
            if (me->code != SQLITE_OK) {
                throw operational_error("not committed: the group commit this transaction "
                                        "joined failed: " + me->message,
                                        error_category::retryable, sqlite_code_name(me->code),
                                        me->code, "COMMIT");
            }
            return false;
        }
        pending_.pop_back();  // nobody queued: commit now
        waiting_count_ = pending_.size();
    }

    try {
        w.run_with_busy_retry("COMMIT");
    } catch (const database_error& e) {
        abandon_batch(e.native_code() ? e.native_code() : SQLITE_ERROR, e.what());
        detach(member);
        member.holds_write_turn_ = false;
        gate_->release();
        throw;
    }
    batch_open_ = false;
    group_commit_batch_sizes().observe(static_cast<double>(pending_.size() + 1));
    settle_waiting(SQLITE_OK, {});
    detach(member);
    member.holds_write_turn_ = false;
    return gate_->release();
}

void sqlite_group_commit::rollback_member(sqlite_connection& member) noexcept {
    sqlite_connection& w = *writer_;
    w.forget_call_limits();
    if (batch_lost()) {
        abandon_batch(SQLITE_ABORT_ROLLBACK, std::string(k_lost_batch));
    } else {
        std::string message;
        int rc = SQLITE_OK;
        try {
            rc = w.step_control(k_rollback_to, message);
            if (rc == SQLITE_OK) rc = w.step_control(k_release, message);
        } catch (const std::exception& e) {
            rc = SQLITE_ERROR;
            message = e.what();
        }
        if (rc != SQLITE_OK) {
            // The shared transaction cannot be trusted any more.
            w.broken_ = true;
            abandon_batch(rc, message);
        }
    }
    detach(member);
    member.holds_write_turn_ = false;
    if (batch_open_ && !pending_.empty() && gate_->pass_to_next()) return;
    if (batch_open_) {
        if (pending_.empty()) abandon_batch(SQLITE_OK, {});  // nothing to keep: end it
        else commit_for_waiting();
    }
    if (writer_ && writer_->broken()) writer_.reset();
    gate_->release();
}

void sqlite_group_commit::close() noexcept {
    writer_.reset();  // closing rolls back an open batch
    batch_open_ = false;
    settle_waiting(SQLITE_ABORT_ROLLBACK, "the database was closed");
}

void sqlite_group_commit::commit_for_waiting() noexcept {
    std::string message;
    int rc = SQLITE_OK;
    try {
        rc = writer_->step_control("COMMIT", message);
    } catch (const std::exception& e) {
        rc = SQLITE_ERROR;
        message = e.what();
    }
    if (rc != SQLITE_OK) {
        abandon_batch(rc, message);
        return;
    }
    batch_open_ = false;
    if (!pending_.empty()) group_commit_batch_sizes().observe(static_cast<double>(pending_.size()));
    settle_waiting(SQLITE_OK, {});
}

void sqlite_group_commit::settle_waiting(int code, const std::string& message) noexcept {
    // Taken out first: once woken, a member may start the next batch's use of pending_.
    std::vector<std::shared_ptr<member_outcome>> waiting;
    waiting.swap(pending_);
    waiting_count_ = 0;
    for (auto& m : waiting) {
        m->code = code;
        if (code != SQLITE_OK) {
            try {
                m->message = message;
            } catch (const std::exception&) {  // bad_alloc: the code still tells
            }
        }
        m->wake_up->wake();
    }
}

void sqlite_group_commit::abandon_batch(int code, const std::string& message) noexcept {
    if (writer_ && writer_->db_ && !sqlite3_get_autocommit(writer_->db_)) {
        std::string ignored;
        int rc = SQLITE_ERROR;
        try {
            rc = writer_->step_control("ROLLBACK", ignored);
        } catch (const std::exception&) {
        }
        if (rc != SQLITE_OK) writer_->broken_ = true;
    }
    batch_open_ = false;
    settle_waiting(code == SQLITE_OK ? SQLITE_ABORT_ROLLBACK : code, message);
}

void sqlite_group_commit::detach(sqlite_connection& member) noexcept {
    member.writer_ = nullptr;
    if (!writer_) return;
    writer_->forget_call_limits();
    writer_->session_ = false;
    writer_->mode_ = sqlite_connection::mode::none;
    writer_->readonly_ = false;
    if (!batch_open_ && writer_->broken()) writer_.reset();
}

}  // namespace atrium::db
