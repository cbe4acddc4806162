#pragma once
// What the files implementing pg_connection share (not for other users): the
// libpqxx/libpq handles behind pg_connection::handles, libpq result ownership
// and the few helpers more than one of those files needs.
//
// pg_connection is implemented across several files, one purpose each:
//   pg_connection.cpp           opening, closing, health (looks_alive, broken)
//   pg_wire.cpp                 one round trip: send, wait, collect results, failures
//   pg_values.cpp               values to SQL literals and result rows to values
//   pg_execute.cpp              execute(): classifying each statement run
//   pg_statement_cache.cpp      server-side prepared statements for plain DML
//   pg_transaction_control.cpp  begin/commit/rollback, savepoints, the pool's reset
//   pg_locks.cpp                table and record locks (SPEC §4.2)

#include "database/postgresql/pg_connection.hpp"

#include <pqxx/connection>
#include <pqxx/errorhandler>

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::db {

namespace pg_detail {

// libpqxx's direct connect, telling us the libpq handle it opened: statements
// go through libpq itself (see pg_connection.hpp for why), while libpqxx keeps
// owning the connection (connect, quoting, notices, PQfinish).
class handle_recording_connect final : public pqxx::connect_direct {
public:
    explicit handle_recording_connect(const std::string& options) : pqxx::connect_direct(options) {}
    handle do_startconnect(handle orig) override;  // pg_connection.cpp
};

using recording_connection = pqxx::basic_connection_base<handle_recording_connect>;

struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

[[noreturn]] inline void throw_misuse(std::string message, std::string_view sql, const char* sqlstate) {
    message += " [SQLSTATE ";
    message += sqlstate;
    message += "]";
    throw programming_error(std::move(message), error_category::programming, sqlstate, 0,
                            std::string(sql));
}

inline bool is_read_statement(const std::vector<std::string>& words) {
    if (words.empty()) return false;
    const std::string& w = words[0];
    return w == "SELECT" || w == "VALUES" || w == "TABLE" || w == "SHOW" || w == "EXPLAIN";
}

/// The rows of a statement's result, typed by column type (pg_values.cpp).
/// `reads`: report 0 affected rows.
result convert_result(const PGresult* raw, bool reads);

}  // namespace pg_detail

// The libpqxx objects, destroyed in reverse order: the notice handler, then
// the connection (PQfinish). `pg` is the connection's libpq handle.
struct pg_connection::handles {
    std::unique_ptr<pg_detail::recording_connection> conn;
    std::unique_ptr<pqxx::quiet_errorhandler> notices;
    PGconn* pg = nullptr;
};

}  // namespace atrium::db
