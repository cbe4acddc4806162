#include "database/postgresql/pg_connection_parts.hpp"

// Every catch (...) here marks the connection or cleans up and rethrows, so a
// fiber's forced_unwind (boost::context) passes through unchanged.

#include "database/postgresql/pg_sql.hpp"

namespace atrium::db {

using pg_detail::is_read_statement;

result pg_connection::run_and_convert(std::string_view sql, const std::vector<value>& params,
                                      statement_kind kind) {
    require_usable(sql);
    apply_call_limits(sql);
    const auto words = pg_leading_keywords(sql, 3);
    // Session-level state the next user must not inherit (lexical check).
    if (!words.empty()) {
        const std::string& w = words[0];
        const std::string second = words.size() > 1 ? words[1] : std::string();
        if ((w == "SET" && second != "LOCAL" && second != "TRANSACTION") || w == "RESET" ||
            w == "LISTEN" || w == "DECLARE" || (w == "PREPARE" && second != "TRANSACTION") ||
            (w == "CREATE" && (second == "TEMP" || second == "TEMPORARY" || second == "GLOBAL" ||
                               second == "LOCAL" || second == "UNLOGGED"))) {
            session_dirty_ = true;
        }
    }
    if (pg_contains_word(sql, "set_config") || pg_contains_word(sql, "advisory_lock")) {
        session_dirty_ = true;
    }
    // What a read-only COMMIT must not leave unconfirmed: anything but a plain
    // read (a NOTIFY is delivered, and may fail, at COMMIT; a transaction's
    // advisory locks end there).
    if (!is_read_statement(words) || pg_contains_word(sql, "pg_notify") ||
        pg_contains_word(sql, "pg_advisory_xact_lock") || pg_contains_word(sql, "pg_try_advisory_xact_lock")) {
        only_reads_ = false;
    }
    try {
        result out = run_maybe_prepared(sql, params, words, kind);
        track_statement(words, true);
        return out;
    } catch (...) {
        track_statement(words, false);
        throw;
    }
}

// Follows transaction control run through execute() (BEGIN, COMMIT, ...), so
// that in_transaction() and the pool's reset stay right.
void pg_connection::track_statement(const std::vector<std::string>& words, bool succeeded) noexcept {
    if (words.empty() || broken_) return;
    const std::string& w = words[0];
    const std::string second = words.size() > 1 ? words[1] : std::string();
    if (w == "BEGIN" || (w == "START" && second == "TRANSACTION")) {
        if (succeeded) block_ = block_state::open;
    } else if (w == "COMMIT" || w == "END" || w == "ABORT" ||
               (w == "PREPARE" && second == "TRANSACTION")) {
        if (second != "PREPARED") {
            // Success or failure, the transaction block is over (a failed
            // COMMIT or PREPARE TRANSACTION rolls back).
            block_ = block_state::none;
        }
    } else if (w == "ROLLBACK") {
        if (second == "TO" || (second == "TRANSACTION" && words.size() > 2 && words[2] == "TO") ||
            (second == "WORK" && words.size() > 2 && words[2] == "TO")) {
            if (succeeded && block_ == block_state::aborted) block_ = block_state::open;
        } else if (second != "PREPARED") {
            block_ = block_state::none;
        }
    }
}

result pg_connection::execute(std::string_view sql, const std::vector<value>& params) {
    return run_and_convert(sql, params, statement_kind::normal);
}

result pg_connection::execute_decisive(std::string_view sql, const std::vector<value>& params) {
    return run_and_convert(sql, params, statement_kind::decisive);
}

}  // namespace atrium::db
