#include "database/introspection.hpp"

#include "database/postgresql/pg_connection.hpp"

#include <cstdio>
#include <stdexcept>
#include <variant>

namespace atrium::db {
namespace {

std::string address_text(const void* p) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%p", p);
    return buffer;
}

bool is_sqlite(const connection& conn) { return conn.backend_name() == "sqlite"; }

}  // namespace

std::string database_key(connection& conn) {
    if (auto* pg = dynamic_cast<pg_connection*>(&conn)) {
        return "pg:" + address_text(pg) + ":" + std::to_string(pg->backend_pid());
    }
    if (is_sqlite(conn)) {
        auto rows = conn.execute("PRAGMA database_list");
        for (const auto& row : rows.rows) {
            if (row.size() >= 3 && std::get_if<std::string>(&row[1]) &&
                std::get<std::string>(row[1]) == "main") {
                if (const auto* file = std::get_if<std::string>(&row[2]); file && !file->empty()) {
                    return "sqlite:" + *file;
                }
            }
        }
    }
    return std::string(conn.backend_name()) + ":" + address_text(&conn);
}

bool table_exists(connection& conn, std::string_view table) {
    // The name goes into the SQL text (as the callers' literals did): checked.
    if (table.empty()) throw std::invalid_argument("table_exists: empty table name");
    for (const char c : table) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            throw std::invalid_argument("table_exists: bad table name: " + std::string(table));
    }
    const std::string name(table);
    auto rows = conn.execute(is_sqlite(conn) ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '" + name + "'"
                                             : "SELECT 1 WHERE to_regclass('" + name + "') IS NOT NULL");
    return !rows.empty();
}

bool transaction_locks_database(const connection& conn) { return is_sqlite(conn); }

bool table_locks_wait(const database& database) { return database.backend_name() == "postgresql"; }

}  // namespace atrium::db
