#include "modules/dialect.hpp"

#include <stdexcept>

namespace atrium::modules::sql {

bool is_postgresql(const db::connection& conn) { return conn.backend_name() == "postgresql"; }

std::string quote(std::string_view identifier) {
    if (identifier.empty()) throw std::logic_error("empty SQL identifier");
    for (char c : identifier) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            throw std::logic_error("bad SQL identifier: " + std::string(identifier));
    }
    return "\"" + std::string(identifier) + "\"";
}

std::string id_column(const db::connection& conn) {
    return is_postgresql(conn) ? "\"id\" BIGSERIAL PRIMARY KEY" : "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT";
}

std::string datetime_type(const db::connection& conn) { return is_postgresql(conn) ? "TIMESTAMP" : "TEXT"; }

std::string column_type(const db::connection& conn, field_type type) {
    const bool pg = is_postgresql(conn);
    switch (type) {
    case field_type::boolean: return pg ? "BOOLEAN" : "INTEGER";
    case field_type::integer:
    case field_type::many2one: return pg ? "BIGINT" : "INTEGER";
    case field_type::float_: return pg ? "DOUBLE PRECISION" : "REAL";
    // Exact decimals: NUMERIC on PostgreSQL, their text on SQLite (whose NUMERIC is a double).
    case field_type::numeric: return pg ? "NUMERIC" : "TEXT";
    case field_type::char_:
    case field_type::text:
    case field_type::selection: return pg ? "VARCHAR" : "TEXT";
    case field_type::date: return pg ? "DATE" : "TEXT";
    case field_type::datetime: return datetime_type(conn);
    case field_type::binary: return pg ? "BYTEA" : "BLOB";
    case field_type::one2many:
    case field_type::many2many: break;
    }
    throw std::logic_error("field type without a column");
}

db::value boolean_param(const db::connection& conn, bool v) {
    if (is_postgresql(conn)) return std::string(v ? "true" : "false");
    return static_cast<std::int64_t>(v ? 1 : 0);
}

std::string numeric_expression(const db::connection& conn, const std::string& column) {
    // SQLite keeps the exact text; comparisons go through its numeric affinity.
    return is_postgresql(conn) ? column : "CAST(" + column + " AS NUMERIC)";
}

bool table_exists(db::connection& conn, const std::string& table) {
    if (is_postgresql(conn)) {
        return !conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                             "AND table_name = ?",
                             {table})
                    .empty();
    }
    return !conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", {table}).empty();
}

std::set<std::string> table_columns(db::connection& conn, const std::string& table) {
    std::set<std::string> out;
    if (is_postgresql(conn)) {
        auto r = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                              "current_schema() AND table_name = ?",
                              {table});
        for (auto& row : r.rows) out.insert(std::get<std::string>(row[0]));
    } else {
        auto r = conn.execute("PRAGMA table_info(" + quote(table) + ")");
        for (auto& row : r.rows) out.insert(std::get<std::string>(row[1]));
    }
    return out;
}

}  // namespace atrium::modules::sql
