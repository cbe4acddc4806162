#pragma once
// The database error tree (DESIGN §1.5): every error carries the backend's own
// code (SQLSTATE for PostgreSQL, the extended result code for SQLite) and a
// backend-neutral category. Retry loops decide on the category alone.

#include "util/error.hpp"

#include <string>
#include <string_view>
#include <utility>

namespace atrium::db {

/// The database's categories are those of the root (util/error.hpp): retryable,
/// in_doubt, integrity, programming, timeout, unavailable, other.
using error_category = atrium::error_category;
using atrium::to_string;

/// Base of every error raised by the database layer.
class database_error : public atrium::error {
public:
    /// `code` is the SQLSTATE ("40001") or the SQLite code name ("SQLITE_BUSY");
    /// `native_code` is the SQLite extended result code, 0 for PostgreSQL.
    database_error(std::string message, error_category category, std::string code,
                   int native_code = 0, std::string query = {});

    const std::string& code() const noexcept { return code_; }
    const std::string& sqlstate() const noexcept { return code_; }
    int native_code() const noexcept { return native_code_; }
    const std::string& query() const noexcept { return query_; }
    bool is_retryable() const noexcept { return category() == error_category::retryable; }

private:
    std::string code_;
    int native_code_;
    std::string query_;
};

/// Operational problems outside the caller's control. The retryable ones
/// (busy, lock not available, serialization, deadlock, lost connection) are
/// exactly those with category() == retryable.
class operational_error : public database_error {
public:
    using database_error::database_error;
};

/// A database name the backend cannot use (bad characters, too long, empty):
/// SQLSTATE 3D000 (invalid_catalog_name) on every backend. An operational
/// error like every other "this database cannot be opened".
class invalid_database_name : public operational_error {
public:
    explicit invalid_database_name(std::string message)
        : operational_error(std::move(message), error_category::other, "3D000") {}
};

/// A statement ran longer than the transaction's timeout (category timeout):
/// an operational_error, but never retried.
class timeout_error : public operational_error {
public:
    using operational_error::operational_error;
};

/// The COMMIT was sent but its outcome is unknown. Never retried.
class in_doubt_error : public database_error {
public:
    using database_error::database_error;
};

class integrity_error : public database_error {
public:
    using database_error::database_error;
};

class programming_error : public database_error {
public:
    using database_error::database_error;
};

}  // namespace atrium::db
