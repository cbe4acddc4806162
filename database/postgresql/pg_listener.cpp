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

pg_listener::pg_listener(const std::string& dsn, const std::string& channel)
    : pg_listener(dsn, std::vector<std::string>{channel}) {}

pg_listener::pg_listener(const std::string& dsn, const std::vector<std::string>& channels)
    : impl_(std::make_unique<impl>()) {
    impl_->conn = PQconnectdb(dsn.c_str());
    if (!impl_->conn || PQstatus(impl_->conn) != CONNECTION_OK) lost(impl_->conn, "cannot connect the listener");
    for (const auto& channel : channels) {
        char* quoted = PQescapeIdentifier(impl_->conn, channel.data(), channel.size());
        if (!quoted) lost(impl_->conn, "cannot quote the channel");
        const std::string sql = std::string("LISTEN ") + quoted;
        PQfreemem(quoted);
        PGresult* result = PQexec(impl_->conn, sql.c_str());
        const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
        PQclear(result);
        if (!ok) lost(impl_->conn, "LISTEN failed");
    }
}

pg_listener::~pg_listener() = default;

int pg_listener::socket() const noexcept { return PQsocket(impl_->conn); }

std::vector<std::string> pg_listener::drain() {
    std::vector<std::string> payloads;
    for (auto& note : drain_notifications()) payloads.push_back(std::move(note.payload));
    return payloads;
}

std::vector<pg_listener::notification> pg_listener::drain_notifications() {
    if (!PQconsumeInput(impl_->conn) || PQstatus(impl_->conn) != CONNECTION_OK)
        lost(impl_->conn, "the listener's connection was lost");
    std::vector<notification> out;
    while (PGnotify* note = PQnotifies(impl_->conn)) {
        out.push_back({note->relname ? note->relname : "", note->extra ? note->extra : ""});
        PQfreemem(note);
    }
    return out;
}

}  // namespace atrium::db
