#include "database/postgresql/pg_connection_parts.hpp"

#include "database/postgresql/pg_sql.hpp"

#include <string>

namespace atrium::db {

using pg_detail::throw_misuse;

// ---------------------------------------------------------------------------
// Locks (SPEC §4.2)

void pg_connection::lock_table(std::string_view table) {
    require_usable("LOCK TABLE");
    if (!pg_is_plain_identifier(table)) {
        throw_misuse("lock_table: \"" + std::string(table) +
                         "\" is not a plain table name ([A-Za-z_][A-Za-z0-9_]*)",
                     "LOCK TABLE", "42602");
    }
    lock_waiting("LOCK TABLE " + quote_name(table) + " IN EXCLUSIVE MODE");
}

void pg_connection::lock_waiting(const std::string& statement) {
    if (lock_wait_.count() <= 0) {
        execute(statement + " NOWAIT");
        return;
    }
    // Queued behind the holder for a bounded time (lock_timeout fails with 55P03 too).
    execute("SET LOCAL lock_timeout = " + std::to_string(lock_wait_.count()));
    execute(statement);
    execute("SET LOCAL lock_timeout = DEFAULT");
}

void pg_connection::lock_records(std::string_view table, const std::vector<std::int64_t>& ids) {
    require_usable("SELECT ... FOR UPDATE NOWAIT");
    if (!pg_is_plain_identifier(table)) {
        throw_misuse("lock_records: \"" + std::string(table) +
                         "\" is not a plain table name ([A-Za-z_][A-Za-z0-9_]*)",
                     "SELECT ... FOR UPDATE NOWAIT", "42602");
    }
    if (ids.empty()) return;
    std::string array = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) array += ',';
        array += std::to_string(ids[i]);
    }
    array += '}';
    // The ids are integers; the array literal is still quoted by libpqxx.
    lock_waiting("SELECT id FROM " + quote_name(table) + " WHERE id = ANY(" + h_->conn->quote(array) +
                 "::bigint[]) FOR UPDATE");
}

}  // namespace atrium::db
