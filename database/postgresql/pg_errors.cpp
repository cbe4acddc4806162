#include "database/postgresql/pg_errors.hpp"

#include "util/text.hpp"

#include <pqxx/except>

#include <stdexcept>
#include <utility>

namespace atrium::db {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

// Most derived classes first: the first match wins.
template <class T>
bool is(const std::exception& error) {
    return dynamic_cast<const T*>(&error) != nullptr;
}

std::string sqlstate_by_class(const std::exception& error) {
    // transaction_rollback family (not sql_error in 6.4)
    if (is<pqxx::serialization_failure>(error)) return "40001";
    if (is<pqxx::deadlock_detected>(error)) return "40P01";
    if (is<pqxx::statement_completion_unknown>(error)) return "40003";
    if (is<pqxx::transaction_rollback>(error)) return "40000";
    // broken_connection family
    if (is<pqxx::too_many_connections>(error)) return "53300";
    if (is<pqxx::broken_connection>(error)) return "08006";
    if (is<pqxx::in_doubt_error>(error)) return "08007";
    // sql_error subclasses (when 6.4 built them without a SQLSTATE)
    if (is<pqxx::unique_violation>(error)) return "23505";
    if (is<pqxx::foreign_key_violation>(error)) return "23503";
    if (is<pqxx::not_null_violation>(error)) return "23502";
    if (is<pqxx::check_violation>(error)) return "23514";
    if (is<pqxx::restrict_violation>(error)) return "23001";
    if (is<pqxx::integrity_constraint_violation>(error)) return "23000";
    if (is<pqxx::undefined_column>(error)) return "42703";
    if (is<pqxx::undefined_function>(error)) return "42883";
    if (is<pqxx::undefined_table>(error)) return "42P01";
    if (is<pqxx::syntax_error>(error)) return "42601";
    if (is<pqxx::insufficient_privilege>(error)) return "42501";
    if (is<pqxx::feature_not_supported>(error)) return "0A000";
    if (is<pqxx::data_exception>(error)) return "22000";
    if (is<pqxx::invalid_cursor_state>(error)) return "24000";
    if (is<pqxx::invalid_sql_statement_name>(error)) return "26000";
    if (is<pqxx::invalid_cursor_name>(error)) return "34000";
    if (is<pqxx::disk_full>(error)) return "53100";
    if (is<pqxx::out_of_memory>(error)) return "53200";
    if (is<pqxx::insufficient_resources>(error)) return "53000";
    if (is<pqxx::plpgsql_raise>(error)) return "P0001";
    if (is<pqxx::plpgsql_no_data_found>(error)) return "P0002";
    if (is<pqxx::plpgsql_too_many_rows>(error)) return "P0003";
    if (is<pqxx::plpgsql_error>(error)) return "P0000";
    return "XX000";
}

std::string trim_message(std::string_view message) { return std::string(util::trim_end(message, "\n ")); }

}  // namespace

std::string pg_sqlstate(const std::exception& error) {
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
        if (!sql->sqlstate().empty()) return sql->sqlstate();
        return sqlstate_by_class(error);
    }
    // Client-side refusals (usage, argument, conversion, internal errors
    // derive from std::logic_error) and failures without a server error.
    if (dynamic_cast<const pqxx::pqxx_exception*>(&error) != nullptr) return sqlstate_by_class(error);
    return {};
}

bool pg_sqlstate_loses_connection(std::string_view sqlstate) {
    return starts_with(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
           sqlstate == "57P03";
}

error_category pg_category(std::string_view state) {
    if (state == "40003" || state == "08007") return error_category::in_doubt;
    if (state == "40001" || state == "40P01" || state == "55P03") return error_category::retryable;
    if (pg_sqlstate_loses_connection(state)) return error_category::retryable;
    if (state == "57014") return error_category::timeout;
    // insufficient_resources (disk full, out of memory, too many connections),
    // and the server refusing connections: nothing a retry now would fix.
    if (starts_with(state, "53") || state == "58030") return error_category::unavailable;
    if (starts_with(state, "23") || state == "40002") return error_category::integrity;
    for (std::string_view cls : {"42", "22", "25", "0A", "24", "26", "34", "3B", "3D", "2B", "2D"}) {
        if (starts_with(state, cls)) return error_category::programming;
    }
    return error_category::other;
}

std::exception_ptr make_pg_error(error_category category, std::string_view sqlstate,
                                 std::string_view message, std::string query) {
    std::string text = trim_message(message);
    text += " [SQLSTATE ";
    text += sqlstate;
    text += "]";
    std::string code(sqlstate);
    switch (category) {
    case error_category::timeout:
        return std::make_exception_ptr(
            timeout_error(std::move(text), category, std::move(code), 0, std::move(query)));
    case error_category::in_doubt:
        return std::make_exception_ptr(
            in_doubt_error(std::move(text), category, std::move(code), 0, std::move(query)));
    case error_category::integrity:
        return std::make_exception_ptr(
            integrity_error(std::move(text), category, std::move(code), 0, std::move(query)));
    case error_category::programming:
        return std::make_exception_ptr(
            programming_error(std::move(text), category, std::move(code), 0, std::move(query)));
    default:  // retryable, unavailable, other: operational problems
        break;
    }
    return std::make_exception_ptr(
        operational_error(std::move(text), category, std::move(code), 0, std::move(query)));
}

std::exception_ptr make_pg_error(std::string_view sqlstate, std::string_view message,
                                 std::string query) {
    return make_pg_error(pg_category(sqlstate), sqlstate, message, std::move(query));
}

std::exception_ptr translate_pg_exception(const std::exception& error, std::string query) {
    // libpqxx refused the call itself (usage, argument, conversion): a
    // programming error, whatever class-to-SQLSTATE mapping would say.
    if (dynamic_cast<const std::logic_error*>(&error) != nullptr) {
        return make_pg_error(error_category::programming, "XX000", error.what(), std::move(query));
    }
    std::string state = pg_sqlstate(error);
    if (state.empty()) state = "XX000";
    return make_pg_error(state, error.what(), std::move(query));
}

}  // namespace atrium::db
