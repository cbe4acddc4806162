#pragma once
// Values bound to and fetched from SQL statements, backend-neutral.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace atrium::db {

/// Binary data (BLOB / bytea), kept apart from text.
struct blob {
    std::vector<unsigned char> bytes;
    bool operator==(const blob&) const = default;
};

/// One SQL value: NULL, integer, real, text or blob.
using value = std::variant<std::nullptr_t, std::int64_t, double, std::string, blob>;

using row = std::vector<value>;

/// The rows of a statement plus what it changed.
struct result {
    std::vector<std::string> columns;
    std::vector<row> rows;
    std::int64_t affected_rows = 0;

    bool empty() const { return rows.empty(); }
    std::size_t size() const { return rows.size(); }
};

inline bool is_null(const value& v) { return std::holds_alternative<std::nullptr_t>(v); }

}  // namespace atrium::db
