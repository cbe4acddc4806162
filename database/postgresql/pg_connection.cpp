#include "database/postgresql/pg_connection_parts.hpp"

#include "database/postgresql/pg_backend.hpp"
#include "database/postgresql/pg_errors.hpp"

#include <pqxx/except>

#include <poll.h>

#include <cerrno>
#include <csignal>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace atrium::db {

using pg_detail::recording_connection;
using pg_detail::throw_misuse;

namespace {

void ignore_sigpipe_once() {
    // libpq writes to sockets whose peer may be gone; a SIGPIPE would kill
    // the process (libpqxx's connection header warns about it).
    static std::once_flag once;
    std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

void poll_readable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    while (::poll(&entry, 1, -1) < 0) {
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    }
}

}  // namespace

std::shared_ptr<pg_settings> pg_settings::make(wait_hooks hooks) {
    auto settings = std::make_shared<pg_settings>();
    if (!hooks.sleep_for) {
        hooks.sleep_for = [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
    }
    if (!hooks.wait_readable) hooks.wait_readable = &poll_readable;
    settings->hooks = std::move(hooks);
    return settings;
}

namespace {

// Where the connect policy (handle_recording_connect) writes the PGconn of the connection being
// built (set only around the constructor, on the constructing thread).
thread_local PGconn** handle_sink = nullptr;

}  // namespace

pg_detail::handle_recording_connect::handle pg_detail::handle_recording_connect::do_startconnect(handle orig) {
    handle opened = pqxx::connect_direct::do_startconnect(orig);
    if (handle_sink) *handle_sink = opened;
    return opened;
}

// ---------------------------------------------------------------------------
// Opening and closing

pg_connection::pg_connection(const std::string& conninfo, std::string label,
                             std::shared_ptr<const pg_settings> settings)
    : settings_(std::move(settings)), label_(std::move(label)) {
    ignore_sigpipe_once();
    if (!settings_) settings_ = pg_settings::make();
    auto h = std::make_unique<handles>();
    try {
        // A blocking libpq connect (about 3 ms on loopback with trust auth).
        // The server issue moves connects to a worker pool; until then the
        // thread blocks for that long.
        handle_sink = &h->pg;
        struct clear_sink {
            ~clear_sink() { handle_sink = nullptr; }
        } clear_on_exit;
        h->conn = std::make_unique<recording_connection>(conninfo);
    } catch (const std::exception& error) {
        std::string state = pg_sqlstate(error);
        if (state.empty() || state == "XX000") state = "08006";
        std::rethrow_exception(make_pg_error(
            pg_category(state) == error_category::retryable ? error_category::retryable
                                                            : error_category::other,
            state, "cannot connect to PostgreSQL database \"" + label_ + "\": " + error.what()));
    }
    // libpqxx 6.4 reconnects silently when a statement meets a closed
    // connection, which would run it outside the transaction. broken_ already
    // keeps us from ever calling libpqxx again after a lost connection; this
    // is the second lock on that door (deprecated in 6.4, still honoured).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    h->conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    // Notices and warnings ("there is no transaction in progress") would go
    // to stderr; they are not errors.
    h->notices = std::make_unique<pqxx::quiet_errorhandler>(*h->conn);
    if (h->pg == nullptr) {
        throw std::logic_error("libpqxx did not hand over the libpq connection it opened");
    }
    pid_ = h->conn->backendpid();
    h_ = std::move(h);
    try {
        apply_session_defaults();
    } catch (const std::exception&) {
        h_.reset();
        throw;
    }
}

// Transactions are REPEATABLE READ by the session's default, which keeps the
// deferred BEGIN short. Applied again after RESET ALL / DISCARD ALL.
void pg_connection::apply_session_defaults() {
    static const std::string sql = "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    run(sql, sql, statement_kind::normal);
}

pg_connection::~pg_connection() {
    close();
}

void pg_connection::close() noexcept {
    // Closing the connection makes the server roll back an open transaction.
    if (cancel_handle_) {
        PQfreeCancel(cancel_handle_);
        cancel_handle_ = nullptr;
    }
    watch_.reset();
    watched_fd_ = -1;
    h_.reset();
    pid_ = 0;
    session_ = session_state::none;
    readonly_ = false;
    block_ = block_state::none;
    deferred_.clear();
    pending_commit_ = pending_commit::none;
    prepared_.clear();
    timeout_.reset();
    until_.reset();
    cancel_ = nullptr;
}

bool pg_connection::is_open() const { return h_ && !broken_ && h_->conn->is_open(); }

int pg_connection::backend_pid() const noexcept { return h_ && !broken_ ? pid_ : 0; }

void pg_connection::mark_broken() noexcept {
    broken_ = true;
    if (pending_commit_ == pending_commit::unsent) pending_commit_ = pending_commit::none;
    // The server rolls back whatever was open when the connection went.
    block_ = block_state::none;
    deferred_.clear();
}

bool pg_connection::looks_alive() noexcept {
    if (!h_ || broken_ || !h_->conn->is_open()) return false;
    try {
        if (pending_commit_ == pending_commit::unread && !absorb_unread_commit(false)) return !broken_;  // its reply is still coming
    } catch (const std::exception&) {
        return false;  // nothing waits here; only allocation can fail
    }
    const int fd = PQsocket(h_->pg);
    if (fd < 0) return false;
    // An idle connection has nothing to read: readable means the server
    // closed it (EOF, or a FATAL message before closing).
    pollfd entry{fd, POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&entry, 1, 0);
    } while (rc < 0 && errno == EINTR);
    return rc == 0;
}

void pg_connection::require_usable(std::string_view sql) const {
    if (!h_) throw_misuse("the PostgreSQL connection is closed", sql, "08003");
    if (broken_) {
        throw operational_error(
            "the connection to PostgreSQL database \"" + label_ +
                "\" was lost earlier; it cannot be used any more [SQLSTATE 08003]",
            error_category::retryable, "08003", 0, std::string(sql));
    }
}

}  // namespace atrium::db
