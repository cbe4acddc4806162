#pragma once
// What differs between SQLite and PostgreSQL for the ORM: column types, the
// id column, booleans, schema introspection. Keyed on backend_name().
// Identifiers passed here come from the registry only (never from a request).

#include "database/database.hpp"
#include "modules/field.hpp"

#include <set>
#include <string>
#include <string_view>

namespace atrium::modules::sql {

bool is_postgresql(const db::connection& conn);

/// "\"name\"" (registry identifiers are [a-z0-9_]; anything else is a programming error).
std::string quote(std::string_view identifier);

std::string id_column(const db::connection& conn);  ///< "id … PRIMARY KEY"
std::string column_type(const db::connection& conn, field_type type);
std::string datetime_type(const db::connection& conn);

/// A boolean as a bound parameter (PostgreSQL's boolean columns refuse integers).
db::value boolean_param(const db::connection& conn, bool v);
/// The SQL expression of a numeric column usable in comparisons.
std::string numeric_expression(const db::connection& conn, const std::string& column);

bool table_exists(db::connection& conn, const std::string& table);
std::set<std::string> table_columns(db::connection& conn, const std::string& table);

}  // namespace atrium::modules::sql
