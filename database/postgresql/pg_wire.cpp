#include "database/postgresql/pg_connection_parts.hpp"

// Every catch (...) here marks the connection or cleans up and rethrows, so a
// fiber's forced_unwind (boost::context) passes through unchanged.

#include "database/postgresql/pg_errors.hpp"

#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace atrium::db {

using pg_detail::result_ptr;
using pg_detail::throw_misuse;

// Waits (through the hooks) until libpq holds a whole result or the end of
// the batch; false if the connection failed meanwhile.
bool pg_connection::wait_until_result_ready(bool yield_first) {
    PGconn* pg = h_->pg;
    bool yielded = !yield_first;
    while (PQisBusy(pg)) {
        const int fd = PQsocket(pg);
        if (fd < 0) return false;
        if (!yielded && settings_->hooks.yield) {
            // Let the thread's other ready fibers run first: under load the
            // reply is often in by then, and reading it costs one recv where
            // a wait registers the socket with epoll and drops it again.
            yielded = true;
            settings_->hooks.yield();
        } else {
            wait_readable(fd);  // suspends the fiber, not the thread
        }
        if (!PQconsumeInput(pg)) return false;
    }
    return true;
}

void pg_connection::wait_readable(int fd) {
    const auto& hooks = settings_->hooks;
    if (hooks.watch_socket) {
        // The watch keeps the socket registered with this thread's event
        // loop between waits; one made on another thread is replaced.
        if (!watch_ || watched_fd_ != fd || !watch_->usable_here()) {
            watch_.reset();
            watched_fd_ = -1;
            watch_ = hooks.watch_socket(fd);
            if (watch_) watched_fd_ = fd;
        }
        if (watch_) {
            watch_->wait_readable();
            return;
        }
    }
    hooks.wait_readable(fd);
}

void pg_connection::send_unsent_commit(bool force) noexcept {
    if (!force && pending_commit_ != pending_commit::unsent) return;
    if (pending_commit_ == pending_commit::unsent) pending_commit_ = pending_commit::none;
    if (!h_ || broken_) return;
    if (PQsendQuery(h_->pg, "COMMIT")) pending_commit_ = pending_commit::unread;
    else mark_broken();
}

bool pg_connection::watched_here() const noexcept { return watch_ && watch_->usable_here(); }

// The reply to a read-only COMMIT sent without waiting (commit()): read and
// dropped. A read-only transaction changed nothing, so its COMMIT's outcome
// cannot matter; only a lost connection does (the connection is broken then).
// With `may_wait` false it only takes what has arrived. True once the reply
// is all in. A failed wait (or an unwound fiber) breaks the connection and
// propagates.
bool pg_connection::absorb_unread_commit(bool may_wait) {
    if (pending_commit_ != pending_commit::unread) return true;
    PGconn* pg = h_->pg;
    try {
        for (;;) {
            if (may_wait ? !wait_until_result_ready() : !PQconsumeInput(pg)) {
                mark_broken();
                return false;
            }
            if (PQisBusy(pg)) return false;  // not all in yet (without waiting)
            if (!result_ptr(PQgetResult(pg))) {
                pending_commit_ = pending_commit::none;
                return true;
            }
        }
    } catch (...) {
        mark_broken();
        throw;
    }
}

result pg_connection::run(const std::string& text, std::string_view shown, statement_kind kind,
                          bool reads, const std::string& prepare, prepare_outcome* outcome) {
    // The deferred BEGIN goes with this statement (one round trip, one query
    // string: PostgreSQL answers each statement of it in order); whatever
    // happens, it has been sent.
    const std::vector<std::string> before = std::move(deferred_);
    deferred_.clear();
    const bool was_deferred = block_ == block_state::deferred;
    if (was_deferred) block_ = block_state::open;
    PGconn* pg = h_->pg;
    // The last read-only COMMIT, not sent yet, rides with a deferred BEGIN;
    // without one it goes on its own (a statement such as DISCARD ALL or
    // CREATE DATABASE cannot share a query string).
    const bool commit_first = pending_commit_ == pending_commit::unsent && !before.empty();
    if (pending_commit_ == pending_commit::unsent && !commit_first) send_unsent_commit(true);
    if (pending_commit_ == pending_commit::unsent) pending_commit_ = pending_commit::none;
    if (pending_commit_ == pending_commit::unread && !absorb_unread_commit(true)) {
        // Lost before this statement was sent: it did not run (retryable,
        // never in doubt).
        fail_lost("the connection was lost after the last read-only COMMIT", "08006", shown,
                  statement_kind::normal);
    }
    std::vector<result_ptr> batch;
    // A cancellable call's statement can be cancelled from elsewhere while it runs.
    if (cancel_ && !cancel_handle_) cancel_handle_ = PQgetCancel(pg);
    try {
        std::optional<cancellation::registration> cancel_on;
        int sent;
        if (before.empty() && prepare.empty()) {
            sent = PQsendQuery(pg, text.c_str());
        } else {
            std::string batched;
            if (commit_first) batched = "COMMIT; ";
            if (!prepare.empty()) {
                batched += prepare;
                batched += "; ";
            }
            for (const auto& sql : before) {
                batched += sql;
                batched += "; ";
            }
            batched += text;
            sent = PQsendQuery(pg, batched.c_str());
        }
        if (!sent) fail_lost(PQerrorMessage(pg), "08006", shown, kind);
        // Registered once sent: a cancel request must find the statement running.
        if (cancel_handle_ && cancel_) cancel_on.emplace(cancel_, [this] { send_cancel_request(); });
        for (;;) {
            // A decisive statement (a write COMMIT) waits for the WAL flush,
            // which one turn of the other fibers never outlasts: no yield.
            if (!wait_until_result_ready(kind != statement_kind::decisive)) {
                fail_lost(PQerrorMessage(pg), "08006", shown, kind);
            }
            result_ptr r(PQgetResult(pg));
            if (!r) break;
            const ExecStatusType status = PQresultStatus(r.get());
            if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
                // The connection now expects COPY data we never send.
                mark_broken();
                throw_misuse("COPY ... FROM STDIN / TO STDOUT is not supported through execute()", shown,
                             "0A000");
            }
            batch.push_back(std::move(r));
        }
    } catch (const database_error&) {
        throw;
    } catch (const std::exception& error) {
        // The wait failed: the statement may still be running and its result
        // may still arrive. Never reuse the connection.
        mark_broken();
        if (kind == statement_kind::decisive) fail_lost(error.what(), "08006", shown, kind);
        throw;
    } catch (...) {
        // A fiber unwound while waiting: the statement's outcome is unknown
        // and its result may still arrive. Never reuse this connection.
        mark_broken();
        throw;
    }
    if (cancel_sent_) {
        // The cancel request may still be on its way and could hit this
        // connection's next statement: it is not used again (the pool closes it).
        mark_broken();
    }
    if (batch.empty()) {
        // Not even an error result: the connection went away.
        fail_lost(PQerrorMessage(pg), "08006", shown, kind);
    }
    // A failed statement ends the batch (the server skips the rest).
    const std::size_t commit_lead = commit_first ? 1 : 0;  // the last transaction's COMMIT
    const std::size_t lead = commit_lead + (prepare.empty() ? 0 : 1);
    if (outcome && !prepare.empty() && batch.size() > commit_lead &&
        PQresultStatus(batch[commit_lead].get()) == PGRES_COMMAND_OK) {
        *outcome = prepare_outcome::prepared;  // whatever happens to the rest of the batch
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const ExecStatusType status = PQresultStatus(batch[i].get());
        if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
            if (i < commit_lead) {
                // Only a broken session fails a read-only COMMIT; nothing after it ran.
                mark_broken();
                fail_lost(PQresultErrorMessage(batch[i].get()), "08006", shown, statement_kind::normal);
            }
            if (i < lead && outcome) {
                // The PREPARE failed before the transaction's BEGIN: nothing
                // after it ran, and no transaction is open on the server.
                const char* code = PQresultErrorField(batch[i].get(), PG_DIAG_SQLSTATE);
                if (!code || pg_sqlstate_loses_connection(code) || PQstatus(pg) != CONNECTION_OK) {
                    fail_server(batch[i].get(), shown, kind);
                }
                deferred_ = before;
                if (was_deferred) block_ = block_state::deferred;
                *outcome = prepare_outcome::failed;
                return {};
            }
            fail_server(batch[i].get(), i - lead < before.size() ? std::string_view(before[i - lead]) : shown,
                        kind);
        }
    }
    // The statement's own result: the last one (a statement text holding
    // several statements reports the last, as PQexec does).
    if (batch.size() <= before.size() + lead) return {};
    return pg_detail::convert_result(batch.back().get(), reads);
}

void pg_connection::fail_lost(std::string_view why, std::string state, std::string_view shown,
                              statement_kind kind) {
    const bool was_in_block = block_ != block_state::none;
    mark_broken();
    std::string reason(why);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    if (reason.empty()) reason = "the server closed the connection";
    if (state.empty() || !pg_sqlstate_loses_connection(state)) state = "08006";
    if (kind == statement_kind::decisive) {
        std::rethrow_exception(make_pg_error(
            error_category::in_doubt, state,
            "the connection to PostgreSQL database \"" + label_ + "\" was lost during \"" +
                std::string(shown) + "\": the transaction's outcome is unknown (" + reason + ")",
            std::string(shown)));
    }
    std::rethrow_exception(make_pg_error(
        error_category::retryable, state,
        "the connection to PostgreSQL database \"" + label_ + "\" was lost" +
            (was_in_block ? " (the transaction was rolled back by the server)" : "") + ": " + reason,
        std::string(shown)));
}

// A server error: the protocol state is clean and the connection usable,
// unless the error says it is going away.
void pg_connection::fail_server(const PGresult* failed, std::string_view shown, statement_kind kind) {
    const char* code = PQresultErrorField(failed, PG_DIAG_SQLSTATE);
    const std::string state = code ? code : "";
    std::string message = PQresultErrorMessage(failed);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (pg_sqlstate_loses_connection(state) || PQstatus(h_->pg) != CONNECTION_OK) {
        fail_lost(message, state, shown, kind);
    }
    if (state.empty()) {
        // Reported by libpq itself, not by the server: the protocol state is unknown.
        fail_lost(message, "08006", shown, kind);
    }
    if (block_ != block_state::none) {
        if (block_ != block_state::aborted) {
            block_ = block_state::aborted;
            aborted_category_ = pg_category(state);
            aborted_code_ = state;
            aborted_message_ = message;
        } else if (state == "25P02") {
            message += " (the transaction was aborted by an earlier error: " + aborted_message_ + ")";
        }
    }
    std::rethrow_exception(make_pg_error(state, message, std::string(shown)));
}

}  // namespace atrium::db
