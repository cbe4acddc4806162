#pragma once
// Backend-specific facts the layers above need without naming a backend
// (the transaction layer's decision and identity tables, its lock queue).

#include "database/database.hpp"

#include <string>
#include <string_view>

namespace atrium::db {

/// A key naming the database behind `conn`, for per-process "this database
/// already has X" caches, without a round trip: PostgreSQL, the connection
/// object and its server process id (a new connection, a new key); SQLite,
/// the database file (in-memory databases: the connection object).
std::string database_key(connection& conn);

/// Whether `table` (lowercase letters, digits, '_'; else std::invalid_argument)
/// exists as seen from the transaction open on `conn`, its own creations
/// included (PostgreSQL reads the catalog with a fresh snapshot).
bool table_exists(connection& conn, std::string_view table);

/// Whether a transaction open on `conn` holds the whole database's write lock
/// (SQLite: another connection can read what is committed, but would wait
/// for ever to write).
bool transaction_locks_database(const connection& conn);

/// Whether table locks may wait behind other transactions, so that callers
/// are worth queueing in order (PostgreSQL); false where one write lock
/// already serialises the writers (SQLite).
bool table_locks_wait(const database& database);

}  // namespace atrium::db
