#pragma once
// Translation of PostgreSQL errors (libpqxx 6.4 exceptions and SQLSTATEs)
// into the database error tree (database/errors.hpp). No libpqxx types here:
// callers hand in the caught std::exception.
//
// The SQLSTATE of an exception is pqxx::sql_error::sqlstate() when it is not
// empty. libpqxx 6.4 drops it from some classes (transaction_rollback and its
// subclasses are not even sql_errors; insufficient_privilege is built without
// it), so those are mapped by class (notes/dependencies.md §2):
//
//   serialization_failure 40001, deadlock_detected 40P01,
//   statement_completion_unknown 40003, transaction_rollback 40000,
//   too_many_connections 53300, broken_connection 08006, in_doubt_error 08007,
//   unique_violation 23505, foreign_key_violation 23503, not_null_violation
//   23502, check_violation 23514, restrict_violation 23001,
//   integrity_constraint_violation 23000, undefined_column 42703,
//   undefined_function 42883, undefined_table 42P01, syntax_error 42601,
//   insufficient_privilege 42501, feature_not_supported 0A000,
//   data_exception 22000, invalid_cursor_state 24000,
//   invalid_sql_statement_name 26000, invalid_cursor_name 34000, disk_full
//   53100, out_of_memory 53200, insufficient_resources 53000, plpgsql_raise
//   P0001, plpgsql_no_data_found P0002, plpgsql_too_many_rows P0003,
//   plpgsql_error P0000, any other libpqxx failure XX000.
//
// Categories, by SQLSTATE:
//   40001, 40P01, 55P03, 08xxx, 57P01-57P03 (connection lost) -> retryable (operational_error)
//   57014 (statement timeout / query cancelled)                -> timeout (timeout_error)
//   40003, 08007 (outcome unknown)                             -> in_doubt (in_doubt_error)
//   23xxx, 40002                                               -> integrity (integrity_error)
//   42xxx, 22xxx, 25xxx (25006 read-only transaction, 25P02
//   aborted transaction...), 0Axxx, 24xxx, 26xxx, 34xxx,
//   3Bxxx (savepoints), 3Dxxx (no such database), 2Bxxx, 2Dxxx  -> programming (programming_error)
//   anything else                                              -> other (operational_error)
// A connection lost while a COMMIT (or COMMIT PREPARED) was under way is
// in-doubt whatever the SQLSTATE says (pg_connection decides that).

#include "database/errors.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace atrium::db {

/// The SQLSTATE of a libpqxx exception (its own, or the one its class implies,
/// see above); empty for exceptions that do not come from libpqxx.
std::string pg_sqlstate(const std::exception& error);

/// The backend-neutral category of a SQLSTATE (table above).
error_category pg_category(std::string_view sqlstate);

/// True for the SQLSTATEs that mean the connection is gone: class 08 and
/// 57P01 (admin shutdown), 57P02 (crash shutdown), 57P03 (cannot connect now).
bool pg_sqlstate_loses_connection(std::string_view sqlstate);

/// Builds (without throwing) the error of the class `category` gives:
/// operational_error (retryable, other), timeout_error, in_doubt_error,
/// integrity_error or programming_error. The message gets " [SQLSTATE xxxxx]"
/// appended; `query` is kept in database_error::query().
std::exception_ptr make_pg_error(error_category category, std::string_view sqlstate,
                                 std::string_view message, std::string query = {});

/// make_pg_error() with the category of `sqlstate`.
std::exception_ptr make_pg_error(std::string_view sqlstate, std::string_view message,
                                 std::string query = {});

/// The error-tree exception for a caught libpqxx exception (SQLSTATE and
/// category per the tables above; libpqxx's trailing newlines trimmed).
std::exception_ptr translate_pg_exception(const std::exception& error, std::string query = {});

}  // namespace atrium::db
