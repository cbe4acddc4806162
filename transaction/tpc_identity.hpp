#pragma once
// The identity of a main database for two-phase commit (issue 17 point 6): a
// random UUID made once (at --init, --update, or on first need) and kept in
// the database itself (table atrium_tpc_identity). Every gid a coordinator of
// this database makes carries it (tpc::new_gid(id)), so recovery can tell which
// database holds a branch's decision record and never decides a branch whose
// decision lives elsewhere (another database of the same server, another
// deployment sharing a participant).
//
// A copy of a database file (or CREATE DATABASE … TEMPLATE) copies its id:
// drop the copy's table atrium_tpc_identity before it first runs (with no
// branch in doubt), so it makes its own.

#include "database/database.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::tpc {

inline constexpr std::string_view identity_table = "atrium_tpc_identity";

/// The id (32 lowercase hex digits, a version-4 UUID without dashes) of
/// `database`, made and committed in its own DB transaction if missing
/// (a race between two processes keeps the first one committed).
std::string ensure_database_id(db::database& database);

/// The same, remembered per database object for the process (the id of a
/// database never changes): what coordinators call for each gid. `own`: the
/// caller's open transaction on `database`, if any; it is read first, and on
/// SQLite (where it holds the write lock, so no other connection could write)
/// a missing id is made inside it: it then commits with the transaction's
/// decision, or not at all (and is not remembered until seen committed).
/// A Tryton transaction makes the id at its start (before it holds the lock),
/// as do atrium-admin --init/--update, atriumd and the dispatcher, so that
/// path is only taken when making it there failed.
std::string database_id(const std::shared_ptr<db::database>& database, db::connection* own = nullptr);

/// The id if the database has one; never creates anything.
std::optional<std::string> read_database_id(db::database& database);

/// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" for an id (for people; gids use the 32 digits).
std::string format_uuid(std::string_view id);

}  // namespace atrium::tpc
