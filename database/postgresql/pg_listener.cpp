#include "database/postgresql/pg_listener.hpp"

#include "database/errors.hpp"

#include <libpq-fe.h>

namespace atrium::db {
namespace {

[[noreturn]] void lost(PGconn* conn, const std::string& what) {
    std::string message = what + ": " + (conn ? PQerrorMessage(conn) : "out of memory");
    throw operational_error(message, error_category::retryable, "08006");
}

}  // namespace

struct pg_listener::impl {
    PGconn* conn = nullptr;
    ~impl() {
        if (conn) PQfinish(conn);
    }
};

pg_listener::pg_listener(const std::string& dsn, const std::string& channel) : impl_(std::make_unique<impl>()) {
    impl_->conn = PQconnectdb(dsn.c_str());
    if (!impl_->conn || PQstatus(impl_->conn) != CONNECTION_OK) lost(impl_->conn, "cannot connect the listener");
    char* quoted = PQescapeIdentifier(impl_->conn, channel.data(), channel.size());
    if (!quoted) lost(impl_->conn, "cannot quote the channel");
    const std::string sql = std::string("LISTEN ") + quoted;
    PQfreemem(quoted);
    PGresult* result = PQexec(impl_->conn, sql.c_str());
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok) lost(impl_->conn, "LISTEN failed");
}

pg_listener::~pg_listener() = default;

int pg_listener::socket() const noexcept { return PQsocket(impl_->conn); }

std::vector<std::string> pg_listener::drain() {
    if (!PQconsumeInput(impl_->conn) || PQstatus(impl_->conn) != CONNECTION_OK)
        lost(impl_->conn, "the listener's connection was lost");
    std::vector<std::string> payloads;
    while (PGnotify* note = PQnotifies(impl_->conn)) {
        payloads.emplace_back(note->extra ? note->extra : "");
        PQfreemem(note);
    }
    return payloads;
}

}  // namespace atrium::db
