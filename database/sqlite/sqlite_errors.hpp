#pragma once
// Translation of SQLite result codes into the database error tree
// (database/errors.hpp). Works on extended result codes; every connection of
// the SQLite backend turns extended result codes on.
//
//   SQLITE_BUSY*, SQLITE_LOCKED*         -> operational_error, retryable
//   SQLITE_SCHEMA, SQLITE_PROTOCOL       -> operational_error, retryable (transient)
//   SQLITE_CONSTRAINT*                   -> integrity_error
//   SQLITE_ERROR*, SQLITE_READONLY*,
//   SQLITE_MISUSE, SQLITE_RANGE,
//   SQLITE_MISMATCH, SQLITE_AUTH*        -> programming_error
//   SQLITE_INTERRUPT                     -> timeout_error (category timeout)
//   anything else (IOERR, FULL, CORRUPT,
//   CANTOPEN, NOMEM, NOTADB, ...)        -> operational_error, category other

#include "database/errors.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace atrium::db {

/// The symbolic name of a result code: "SQLITE_CONSTRAINT_UNIQUE" for 2067,
/// "SQLITE_BUSY" for 5. An unknown extended code falls back to its primary
/// code's name; a wholly unknown code gives "SQLITE_UNKNOWN_<n>".
std::string sqlite_code_name(int extended_code);

/// The backend-neutral category of a (primary or extended) result code.
error_category sqlite_category(int extended_code);

/// True for the codes the backend treats as "the connection is no longer
/// trustworthy" (I/O errors, corruption, out of memory, not a database):
/// the pool discards such a connection instead of reusing it.
bool sqlite_code_breaks_connection(int extended_code);

/// Builds (without throwing) the exception for `extended_code`, of the class
/// the table above gives. The message is `message` followed by the code name.
std::exception_ptr make_sqlite_error(int extended_code, std::string_view message,
                                     std::string query = {});

/// Throws the exception make_sqlite_error() builds.
[[noreturn]] void throw_sqlite_error(int extended_code, std::string_view message,
                                     std::string query = {});

}  // namespace atrium::db
