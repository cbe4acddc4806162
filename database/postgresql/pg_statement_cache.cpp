#include "database/postgresql/pg_connection_parts.hpp"

#include "database/postgresql/pg_errors.hpp"
#include "database/postgresql/pg_sql.hpp"

#include <exception>
#include <string>
#include <utility>

namespace atrium::db {

using pg_detail::is_read_statement;

namespace {

// Statements worth a server-side prepared statement: plain DML, whose text
// repeats (the ORM's) and whose planning costs the server more than running.
bool is_preparable(const std::vector<std::string>& words) {
    if (words.empty()) return false;
    const std::string& w = words[0];
    return w == "SELECT" || w == "INSERT" || w == "UPDATE" || w == "DELETE";
}

// The parameter types a prepared statement is made with: what the literal
// would have been (integers, reals, bytea), `unknown` (inferred from the
// context, as a quoted literal is) for text and NULL.
// Appends "(a, b, ...)" of `count` items; nothing for none.
template <class Item>
void append_arguments(std::string& out, std::size_t count, const Item& item) {
    if (count == 0) return;
    out += '(';
    for (std::size_t i = 0; i < count; ++i) {
        if (i) out += ", ";
        out += item(i);
    }
    out += ')';
}

const char* parameter_type(const value& v) {
    if (std::holds_alternative<std::int64_t>(v)) return "int8";
    if (std::holds_alternative<double>(v)) return "float8";
    if (std::holds_alternative<blob>(v)) return "bytea";
    return "unknown";
}

}  // namespace

result pg_connection::run_maybe_prepared(std::string_view sql, const std::vector<value>& params,
                                         const std::vector<std::string>& words, statement_kind kind) {
    const bool reads = is_read_statement(words);
    // The literal form, built only when it is what goes out.
    const auto as_text = [&] {
        return pg_expand_placeholders(sql, params.size(), [&](std::size_t i) { return literal(params[i]); });
    };
    if (!settings_->prepare_statements || !is_preparable(words)) return run(as_text(), sql, kind, reads);
    std::string key(sql);
    key += '\x1f';
    for (const auto& p : params) key += parameter_type(p)[0];
    auto found = prepared_.find(key);
    std::string prepare;  // PREPARE to send first, or empty: prepared already
    std::string name;
    if (found != prepared_.end()) {
        if (found->second.empty()) return run(as_text(), sql, kind, reads);  // failed to prepare before
        name = found->second;
    } else {
        // A failed PREPARE aborts the transaction it runs in: only where it
        // runs before the transaction's BEGIN (or outside any).
        const bool before_block = block_ == block_state::none || block_ == block_state::deferred;
        if (!before_block || prepared_.size() >= k_max_prepared) return run(as_text(), sql, kind, reads);
        name = "atrium_" + std::to_string(++prepared_count_);
        prepare = "PREPARE " + name;
        append_arguments(prepare, params.size(), [&](std::size_t i) { return std::string(parameter_type(params[i])); });
        prepare += " AS ";
        prepare += pg_expand_placeholders(sql, params.size(), [](std::size_t i) { return "$" + std::to_string(i + 1); });
    }
    std::string execute = "EXECUTE " + name;
    append_arguments(execute, params.size(), [&](std::size_t i) { return literal(params[i]); });
    prepare_outcome outcome = prepare_outcome::none;
    try {
        result out = run(execute, sql, kind, reads, prepare, &outcome);
        if (outcome == prepare_outcome::failed) {
            // Not preparable (a parameter whose type the server cannot infer,
            // say): nothing else of the batch ran; the literal text from now on.
            prepared_.emplace(std::move(key), std::string());
            return run(as_text(), sql, kind, reads);
        }
        if (outcome == prepare_outcome::prepared) prepared_.emplace(std::move(key), std::move(name));
        return out;
    } catch (const database_error& e) {
        // Prepared even if the statement then failed: keep the name, or every
        // failing call would leave one more prepared statement behind.
        if (outcome == prepare_outcome::prepared) prepared_.emplace(key, name);
        // Dropped by the session (DEALLOCATE, DISCARD) or outdated by a schema
        // change: forget them all; a retry of the transaction prepares afresh.
        const std::string_view what = e.what();
        const bool stale = e.code() == "26000" ||
                           (e.code() == "0A000" && what.find("cached plan") != std::string_view::npos);
        if (!stale) throw;
        prepared_.clear();
        std::rethrow_exception(make_pg_error(error_category::retryable, e.code(),
                                             what.substr(0, what.rfind(" [SQLSTATE")), std::string(sql)));
    }
}

}  // namespace atrium::db
