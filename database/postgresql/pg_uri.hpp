#pragma once
// The PostgreSQL backend's URI (see open_backend in database/database.hpp):
//   postgresql://[user[:password]@][host][:port][/][?param=value&...]
//   (also postgres://). User, password and host are percent-decoded; the host
//   may be an [IPv6] address or, percent-encoded, a Unix socket directory;
//   without a host libpq's default applies. The database name is not part of
//   the URI: it is chosen per open(name); the empty name is the maintenance
//   database `postgres`. Parameters consumed by Atrium:
//     pool_size=N       most connections per database, in use + idle (default 10)
//     retry=N           database.retry (default 5)
//     pool_wait_ms=N    longest wait for a free connection (default retry x 1000)
//     idle_timeout_s=S  idle connections older than this are closed
//                       (database.timeout, default 1800; may be fractional)
//     prepare=BOOL      server-side prepared statements (default true)
//   passed on to libpq: sslmode, connect_timeout, application_name.
//   Anything else is a std::invalid_argument. Errors never show the password.

#include "database/postgresql/pg_connection.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::db {

/// Where the server is (the parts of the URI before the query).
struct pg_server_address {
    std::string host;      ///< empty: libpq default (Unix socket)
    std::string port;      ///< empty: libpq default
    std::string user;      ///< empty: libpq default
    std::string password;  ///< never shown in errors
    /// Extra libpq keywords (sslmode, connect_timeout, application_name).
    std::vector<std::pair<std::string, std::string>> options;
};

/// Parses the part of a `postgresql://` URI after the "postgresql://": the
/// server address, and the pool parameters written into `settings`.
pg_server_address parse_pg_uri(std::string_view rest, pg_settings& settings);

/// The libpq conninfo string for `database` on `address`.
std::string pg_conninfo(const pg_server_address& address, const std::string& database);

/// The URI without the password ("postgresql://user@host:port/").
std::string pg_display_uri(const pg_server_address& address);

}  // namespace atrium::db
