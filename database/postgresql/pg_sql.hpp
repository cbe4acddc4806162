#pragma once
// SQL text helpers of the PostgreSQL backend, independent of any connection:
// the lexical scan that finds parameter placeholders (and statement
// separators) outside string literals, quoted identifiers, dollar quotes and
// comments, and the leading keywords of a statement.
//
// Why placeholders are expanded on the client: a statement goes in one query
// string with the transaction's deferred BEGIN (one round trip, see
// pg_connection.hpp), which only the simple-query protocol allows, and that
// protocol has no bound parameters. Every value is therefore turned into a
// literal by libpqxx's quoting (pg_connection::literal), never pasted. Plain
// DML goes through SQL-level prepared statements in the same protocol
// (`PREPARE atrium_n(int8, unknown) AS ... $1 ...`, then `EXECUTE
// atrium_n(<literals>)`): the server plans it once per connection.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::db {

/// Replaces the parameter placeholders of one statement with `literal(i)`
/// (i = 0-based parameter index) and returns the text to send.
///
/// * Placeholders are `?` (every backend) or `$1`..`$n` (PostgreSQL style);
///   a statement uses one style. When it contains a `$n`, it is in `$n` style
///   and its `?` characters are left alone (PostgreSQL operators such as
///   jsonb `?` need that); `$n` may repeat, and every parameter must be used.
/// * Nothing inside '...' / E'...' strings, "..." identifiers, $tag$...$tag$
///   dollar quotes, -- line comments and nested /* */ comments is a
///   placeholder; a `$` inside an identifier (`a$1`) is not either.
/// * With no parameters and no `$n`, the text is returned unchanged (a `?`
///   there is an operator).
/// * A parameter count that does not match, and text after a top-level `;`
///   other than whitespace and comments (more than one statement), throw
///   programming_error (SQLSTATE 42P02 / 42601) carrying `sql`.
std::string pg_expand_placeholders(std::string_view sql, std::size_t count,
                                   const std::function<std::string(std::size_t)>& literal);

/// The first `max` keywords of a statement, upper-cased ASCII words, after
/// whitespace and comments ("ROLLBACK TO SAVEPOINT s" -> ROLLBACK, TO,
/// SAVEPOINT, S); stops at the first character that is not part of a word.
std::vector<std::string> pg_leading_keywords(std::string_view sql, std::size_t max);

/// [A-Za-z_][A-Za-z0-9_]*, as the SQLite backend requires for lock_table().
bool pg_is_plain_identifier(std::string_view name) noexcept;

/// Case-insensitive ASCII substring search.
bool pg_contains_word(std::string_view text, std::string_view lower_word) noexcept;

}  // namespace atrium::db
