#include "database/postgresql/pg_connection_parts.hpp"

// Every catch (...) here marks the connection or cleans up and rethrows, so a
// fiber's forced_unwind (boost::context) passes through unchanged.

#include "database/postgresql/pg_backend.hpp"
#include "database/postgresql/pg_errors.hpp"

#include <exception>
#include <string>

namespace atrium::db {

using pg_detail::throw_misuse;

namespace {

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

}  // namespace

void pg_connection::require_block(std::string_view sql) const {
    require_usable(sql);
    if (block_ == block_state::none) {
        throw_misuse("savepoints need an open transaction (begin() without autocommit)", sql,
                     "25P01");
    }
}

// ---------------------------------------------------------------------------
// Transactions

bool pg_connection::in_transaction() const {
    return session_ != session_state::none || block_ != block_state::none;
}

void pg_connection::begin(const begin_options& options) {
    require_usable("BEGIN");
    if (in_transaction()) throw_misuse("a transaction is already open on this connection", "BEGIN", "25001");
    if (options.cancel && options.cancel->cancelled()) throw_deadline_passed("BEGIN", true);
    // A zero or negative timeout means none (statement_timeout = 0 disables it).
    std::optional<std::chrono::milliseconds> statement_timeout;
    if (options.statement_timeout && options.statement_timeout->count() > 0) statement_timeout = options.statement_timeout;
    if (const auto left = time_left(options.until)) {
        // The call's deadline: at most the time left (a statement running past it is cancelled by the server).
        if (left->count() <= 0) throw_deadline_passed("BEGIN");
        if (!statement_timeout || *left < *statement_timeout) statement_timeout = left;
    }
    const bool timed = statement_timeout.has_value();
    lock_wait_ = std::chrono::milliseconds(0);
    readonly_ = options.readonly;
    try {
        if (options.autocommit) {
            {
                // Session-level settings for the autocommit session, in one
                // round trip; end_session() resets them. Statements on their
                // own run READ COMMITTED, the server's default (the session
                // default of our connections is REPEATABLE READ).
                std::string sql = "SELECT set_config('default_transaction_isolation', 'read committed', false)";
                if (options.readonly) sql += ", set_config('default_transaction_read_only', 'on', false)";
                if (timed) {
                    sql += ", set_config('statement_timeout', '" + ms_text(*statement_timeout) + "', false)";
                }
                session_ = session_state::autocommit;  // its settings are RESET by end_session()
                run(sql, sql, statement_kind::normal, true);
            }
        } else {
            // REPEATABLE READ is the session default (apply_session_defaults).
            static const std::string read_write = "BEGIN";
            static const std::string read_only = "BEGIN READ ONLY";
            // Sent with the first statement (the snapshot is taken there anyway).
            deferred_.assign(1, options.readonly ? read_only : read_write);
            block_ = block_state::deferred;
            only_reads_ = true;
            if (timed) {
                // Transaction-local: it ends with the transaction and cannot
                // leak to the next user of the connection.
                deferred_.push_back("SET LOCAL statement_timeout = " + ms_text(*statement_timeout));
            }
        }
    } catch (const std::exception&) {
        if (block_ != block_state::none && !broken_) {
            try {
                run("ROLLBACK", "ROLLBACK", statement_kind::normal);
            } catch (const std::exception&) {
                mark_broken();
            }
        }
        block_ = block_state::none;
        end_session();
        throw;
    } catch (...) {
        mark_broken();
        session_ = session_state::none;  // no session began (a broken connection needs no RESET)
        throw;
    }
    session_ = options.autocommit ? session_state::autocommit : session_state::transaction;
    timeout_ = timed ? statement_timeout : std::nullopt;
    applied_timeout_ = timed ? *statement_timeout : std::chrono::milliseconds(0);
    until_ = options.until;
    cancel_ = options.cancel;
}

void pg_connection::apply_call_limits(std::string_view shown) {
    if (!until_ && !cancel_) return;
    const auto what = [&] { return "before \"" + std::string(shown.substr(0, 60)) + "\""; };
    if (cancel_ && cancel_->cancelled()) throw_deadline_passed(what(), true);
    const auto left = time_left(until_);
    if (!left) return;
    if (left->count() <= 0) throw_deadline_passed(what());
    // Only inside our own open (or deferred) transaction block: SET LOCAL ends with it.
    if (session_ != session_state::transaction || (block_ != block_state::open && block_ != block_state::deferred))
        return;
    const auto slack = std::max(std::chrono::milliseconds(20), *left / 20);
    if (applied_timeout_.count() == 0 || applied_timeout_ > *left + slack) {
        deferred_.push_back("SET LOCAL statement_timeout = " + ms_text(*left));
        applied_timeout_ = *left;
    }
}

void pg_connection::send_cancel_request() noexcept {
    if (!cancel_handle_) return;
    char message[256];
    cancel_sent_ = true;
    (void)PQcancel(cancel_handle_, message, sizeof message);  // best effort: the deadline still holds
}

void pg_connection::end_session() noexcept {
    // Our own autocommit-session settings: reset now, so that they end with
    // the session even if the connection is used again without the pool.
    // Skipped during stack unwinding (no waiting there): the pool's reset()
    // discards the connection instead.
    if (session_ == session_state::autocommit && h_ && !broken_) {
        if (std::uncaught_exceptions() > 0) {
            mark_broken();
        } else {
            try {
                run("RESET ALL", "RESET ALL", statement_kind::normal);
                apply_session_defaults();
            } catch (const std::exception&) {
                mark_broken();
            }
        }
    }
    session_ = session_state::none;
    readonly_ = false;
    timeout_.reset();
    until_.reset();
    cancel_ = nullptr;
    applied_timeout_ = std::chrono::milliseconds(0);
    if (block_ == block_state::none) deferred_.clear();
}

void pg_connection::commit() {
    if (!h_) throw_misuse("the PostgreSQL connection is closed", "COMMIT", "08003");
    if (broken_) {
        const bool had_work = in_transaction();
        end_session();
        if (!had_work) return;
        // Nothing was sent: the server rolled back when the connection went.
        throw operational_error("COMMIT impossible: the connection to PostgreSQL database \"" +
                                    label_ +
                                    "\" was lost earlier and the server rolled the transaction "
                                    "back [SQLSTATE 08003]",
                                error_category::retryable, "08003", 0, "COMMIT");
    }
    if (block_ == block_state::deferred) {
        // No statement ran: the block never reached the server.
        deferred_.clear();
        block_ = block_state::none;
    }
    if (block_ != block_state::none) {
        if (block_ == block_state::aborted) {
            const error_category category = aborted_category_;
            const std::string code = aborted_code_;
            const std::string message = aborted_message_;
            try {
                run("ROLLBACK", "ROLLBACK", statement_kind::normal);
            } catch (const std::exception&) {
                mark_broken();
            }
            block_ = block_state::none;
            end_session();
            std::rethrow_exception(make_pg_error(
                category, code,
                "COMMIT impossible: the transaction was rolled back because an earlier statement "
                "failed: " +
                    message,
                "COMMIT"));
        }
        if (readonly_ && only_reads_) {
            // Nothing to make durable and nothing delivered at COMMIT: send it
            // and read the reply later (absorb_unread_commit). If the
            // connection is lost first, the server ends the transaction just
            // the same. A pooled connection does not even send it yet: the
            // pool sends it at release, unless the connection goes straight
            // to a waiter, whose first round trip then carries it.
            if (checked_out_) pending_commit_ = pending_commit::unsent;
            else send_unsent_commit(true);
            block_ = block_state::none;
            end_session();
            return;
        }
        try {
            run("COMMIT", "COMMIT", statement_kind::decisive);
        } catch (const std::exception&) {
            // Committed or not, the block is over (a failed COMMIT rolls back).
            block_ = block_state::none;
            end_session();
            throw;
        } catch (...) {
            mark_broken();
            throw;
        }
        block_ = block_state::none;
    }
    end_session();
}

void pg_connection::rollback() {
    if (!h_ || broken_) {
        // Closed or lost: the server already rolled back.
        block_ = block_state::none;
        deferred_.clear();
        end_session();
        return;
    }
    if (block_ == block_state::deferred) {
        deferred_.clear();  // nothing was sent
        block_ = block_state::none;
    }
    if (block_ != block_state::none) {
        try {
            run("ROLLBACK", "ROLLBACK", statement_kind::normal);
        } catch (const std::exception&) {
            block_ = block_state::none;
            end_session();
            throw;
        } catch (...) {
            mark_broken();
            throw;
        }
        block_ = block_state::none;
    }
    end_session();
}

bool pg_connection::reset() noexcept {
    if (!h_ || broken_) return false;
    const bool needs_io = block_ == block_state::open || block_ == block_state::aborted ||
                          session_ == session_state::autocommit || session_dirty_;
    if (needs_io && std::uncaught_exceptions() > 0) {
        // Called while an exception unwinds the stack (a destructor): do not
        // wait for the server there. Closing the connection rolls back.
        mark_broken();
        return false;
    }
    try {
        if (block_ != block_state::none) rollback();
        else end_session();
        if (session_dirty_ && !broken_) {
            prepared_.clear();  // DISCARD ALL deallocates them
            run("DISCARD ALL", "DISCARD ALL", statement_kind::normal);
            apply_session_defaults();
            session_dirty_ = false;
        }
    } catch (const std::exception&) {
        mark_broken();
    }
    return !broken_;
}

void pg_connection::savepoint(std::string_view name) {
    const std::string sql = "SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);
}

void pg_connection::release_savepoint(std::string_view name) {
    const std::string sql = "RELEASE SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);
}

void pg_connection::rollback_to_savepoint(std::string_view name) {
    const std::string sql = "ROLLBACK TO SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);  // reopens an aborted block on success (track_statement)
}

}  // namespace atrium::db
