#include "database/postgresql/pg_connection.hpp"

// Every catch (...) here marks the connection or cleans up and rethrows, so a
// fiber's forced_unwind (boost::context) passes through unchanged.

#include "database/postgresql/pg_backend.hpp"
#include "database/postgresql/pg_errors.hpp"
#include "database/postgresql/pg_sql.hpp"
#include "util/hex.hpp"

#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/except>

#include <libpq-fe.h>

#include <poll.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <new>
#include <cmath>
#include <csignal>
#include <exception>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace atrium::db {

namespace {

// Column type oids (pg_type.dat).
constexpr unsigned k_bool_oid = 16;
constexpr unsigned k_bytea_oid = 17;
constexpr unsigned k_int8_oid = 20;
constexpr unsigned k_int2_oid = 21;
constexpr unsigned k_int4_oid = 23;
constexpr unsigned k_float4_oid = 700;
constexpr unsigned k_float8_oid = 701;

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

[[noreturn]] void throw_misuse(std::string message, std::string_view sql, const char* sqlstate) {
    message += " [SQLSTATE ";
    message += sqlstate;
    message += "]";
    throw programming_error(std::move(message), error_category::programming, sqlstate, 0,
                            std::string(sql));
}

bool is_read_statement(const std::vector<std::string>& words) {
    if (words.empty()) return false;
    const std::string& w = words[0];
    return w == "SELECT" || w == "VALUES" || w == "TABLE" || w == "SHOW" || w == "EXPLAIN";
}

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

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

// Where the connect policy below writes the PGconn of the connection being
// built (set only around the constructor, on the constructing thread).
thread_local PGconn** handle_sink = nullptr;

// libpqxx's direct connect, telling us the libpq handle it opened: statements
// go through libpq itself (see pg_connection.hpp for why), while libpqxx keeps
// owning the connection (connect, quoting, notices, PQfinish).
class handle_recording_connect final : public pqxx::connect_direct {
public:
    explicit handle_recording_connect(const std::string& options) : pqxx::connect_direct(options) {}
    handle do_startconnect(handle orig) override {
        handle opened = pqxx::connect_direct::do_startconnect(orig);
        if (handle_sink) *handle_sink = opened;
        return opened;
    }
};

using recording_connection = pqxx::basic_connection_base<handle_recording_connect>;

struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

}  // namespace

// The libpqxx objects, destroyed in reverse order: the notice handler, then
// the connection (PQfinish). `pg` is the connection's libpq handle.
struct pg_connection::handles {
    std::unique_ptr<recording_connection> conn;
    std::unique_ptr<pqxx::quiet_errorhandler> notices;
    PGconn* pg = nullptr;
};

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
    watch_.reset();
    watched_fd_ = -1;
    h_.reset();
    pid_ = 0;
    session_ = false;
    autocommit_ = false;
    readonly_ = false;
    in_block_ = false;
    deferred_.clear();
    aborted_ = false;
    own_settings_ = false;
    unread_commit_ = false;
    commit_unsent_ = false;
    prepared_.clear();
    timeout_.reset();
}

bool pg_connection::is_open() const { return h_ && !broken_ && h_->conn->is_open(); }

int pg_connection::backend_pid() const noexcept { return h_ && !broken_ ? pid_ : 0; }

void pg_connection::mark_broken() noexcept {
    broken_ = true;
    commit_unsent_ = false;
    // The server rolls back whatever was open when the connection went.
    in_block_ = false;
    deferred_.clear();
    aborted_ = false;
}

bool pg_connection::looks_alive() noexcept {
    if (!h_ || broken_ || !h_->conn->is_open()) return false;
    try {
        if (unread_commit_ && !absorb_unread_commit(false)) return !broken_;  // its reply is still coming
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

// ---------------------------------------------------------------------------
// Values

std::string pg_connection::literal(const value& v) {
    require_usable("");
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
                return "NULL";
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                // In parentheses when negative: "x-?" must not read "x--1" (a
                // comment). The smallest int64 has no positive int8 literal.
                if (x == std::numeric_limits<std::int64_t>::min()) return "'" + std::to_string(x) + "'::int8";
                return x < 0 ? "(" + std::to_string(x) + ")" : std::to_string(x);
            } else if constexpr (std::is_same_v<T, double>) {
                if (std::isnan(x)) return "'NaN'::float8";
                if (std::isinf(x)) return x > 0 ? "'Infinity'::float8" : "'-Infinity'::float8";
                char buffer[64];
                // Shortest text that reads back as the same double.
                const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
                if (ec != std::errc{}) throw std::logic_error("cannot format a double");
                return "'" + std::string(buffer, end) + "'::float8";
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (x.find('\0') != std::string::npos) {
                    throw_misuse("a text parameter contains a NUL byte, which PostgreSQL text "
                                 "cannot hold (use a blob)",
                                 "", "22021");
                }
                try {
                    return h_->conn->quote(x);
                } catch (const pqxx::argument_error& error) {
                    // PQescapeStringConn refuses invalid multibyte sequences.
                    throw_misuse(std::string("a text parameter is not valid in the connection "
                                             "encoding: ") +
                                     error.what(),
                                 "", "22021");
                }
            } else {
                static const unsigned char none = 0;
                return h_->conn->quote_raw(x.bytes.empty() ? &none : x.bytes.data(), x.bytes.size());
            }
        },
        v);
}

std::string pg_connection::quote_name(std::string_view name) {
    require_usable("");
    return h_->conn->quote_name(std::string(name));
}

// ---------------------------------------------------------------------------
// Running statements

void pg_connection::require_usable(std::string_view sql) const {
    if (!h_) throw_misuse("the PostgreSQL connection is closed", sql, "08003");
    if (broken_) {
        throw operational_error(
            "the connection to PostgreSQL database \"" + label_ +
                "\" was lost earlier; it cannot be used any more [SQLSTATE 08003]",
            error_category::retryable, "08003", 0, std::string(sql));
    }
}

void pg_connection::require_block(std::string_view sql) const {
    require_usable(sql);
    if (!in_block_) {
        throw_misuse("savepoints need an open transaction (begin() without autocommit)", sql,
                     "25P01");
    }
}

// Waits (through the hooks) until libpq holds a whole result or the end of
// the batch; false if the connection failed meanwhile.
bool pg_connection::wait_until_result_ready(bool yield_first) {
    PGconn* pg = h_->pg;
    bool yielded = !yield_first;
    while (PQisBusy(pg)) {
        const int fd = PQsocket(pg);
        if (fd < 0) return false;
        if (!yielded && settings_->hooks.yield) {
            // Let the thread's other ready fibers run first: under load the
            // reply is often in by then, and reading it costs one recv where
            // a wait registers the socket with epoll and drops it again.
            yielded = true;
            settings_->hooks.yield();
        } else {
            wait_readable(fd);  // suspends the fiber, not the thread
        }
        if (!PQconsumeInput(pg)) return false;
    }
    return true;
}

void pg_connection::wait_readable(int fd) {
    const auto& hooks = settings_->hooks;
    if (hooks.watch_socket) {
        // The watch keeps the socket registered with this thread's event
        // loop between waits; one made on another thread is replaced.
        if (!watch_ || watched_fd_ != fd || !watch_->usable_here()) {
            watch_.reset();
            watched_fd_ = -1;
            watch_ = hooks.watch_socket(fd);
            if (watch_) watched_fd_ = fd;
        }
        if (watch_) {
            watch_->wait_readable();
            return;
        }
    }
    hooks.wait_readable(fd);
}

void pg_connection::send_unsent_commit(bool force) noexcept {
    if (!force && !commit_unsent_) return;
    commit_unsent_ = false;
    if (!h_ || broken_) return;
    if (PQsendQuery(h_->pg, "COMMIT")) unread_commit_ = true;
    else mark_broken();
}

bool pg_connection::watched_here() const noexcept { return watch_ && watch_->usable_here(); }

// The reply to a read-only COMMIT sent without waiting (commit()): read and
// dropped. A read-only transaction changed nothing, so its COMMIT's outcome
// cannot matter; only a lost connection does (the connection is broken then).
// With `may_wait` false it only takes what has arrived. True once the reply
// is all in. A failed wait (or an unwound fiber) breaks the connection and
// propagates.
bool pg_connection::absorb_unread_commit(bool may_wait) {
    if (!unread_commit_) return true;
    PGconn* pg = h_->pg;
    try {
        for (;;) {
            if (may_wait ? !wait_until_result_ready() : !PQconsumeInput(pg)) {
                mark_broken();
                return false;
            }
            if (PQisBusy(pg)) return false;  // not all in yet (without waiting)
            if (!result_ptr(PQgetResult(pg))) {
                unread_commit_ = false;
                return true;
            }
        }
    } catch (...) {
        mark_broken();
        throw;
    }
}

result pg_connection::run(const std::string& text, std::string_view shown, statement_kind kind,
                          bool reads, const std::string& prepare, prepare_outcome* outcome) {
    // The deferred BEGIN goes with this statement (one round trip, one query
    // string: PostgreSQL answers each statement of it in order); whatever
    // happens, it has been sent.
    const std::vector<std::string> before = std::move(deferred_);
    deferred_.clear();
    PGconn* pg = h_->pg;
    // The last read-only COMMIT, not sent yet, rides with a deferred BEGIN;
    // without one it goes on its own (a statement such as DISCARD ALL or
    // CREATE DATABASE cannot share a query string).
    const bool commit_first = commit_unsent_ && !before.empty();
    if (commit_unsent_ && !commit_first) send_unsent_commit(true);
    commit_unsent_ = false;
    if (unread_commit_ && !absorb_unread_commit(true)) {
        // Lost before this statement was sent: it did not run (retryable,
        // never in doubt).
        fail_lost("the connection was lost after the last read-only COMMIT", "08006", shown,
                  statement_kind::normal);
    }
    std::vector<result_ptr> batch;
    try {
        int sent;
        if (before.empty() && prepare.empty()) {
            sent = PQsendQuery(pg, text.c_str());
        } else {
            std::string batched;
            if (commit_first) batched = "COMMIT; ";
            if (!prepare.empty()) {
                batched += prepare;
                batched += "; ";
            }
            for (const auto& sql : before) {
                batched += sql;
                batched += "; ";
            }
            batched += text;
            sent = PQsendQuery(pg, batched.c_str());
        }
        if (!sent) fail_lost(PQerrorMessage(pg), "08006", shown, kind);
        for (;;) {
            // A decisive statement (a write COMMIT) waits for the WAL flush,
            // which one turn of the other fibers never outlasts: no yield.
            if (!wait_until_result_ready(kind != statement_kind::decisive)) {
                fail_lost(PQerrorMessage(pg), "08006", shown, kind);
            }
            result_ptr r(PQgetResult(pg));
            if (!r) break;
            const ExecStatusType status = PQresultStatus(r.get());
            if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
                // The connection now expects COPY data we never send.
                mark_broken();
                throw_misuse("COPY ... FROM STDIN / TO STDOUT is not supported through execute()", shown,
                             "0A000");
            }
            batch.push_back(std::move(r));
        }
    } catch (const database_error&) {
        throw;
    } catch (const std::exception& error) {
        // The wait failed: the statement may still be running and its result
        // may still arrive. Never reuse the connection.
        mark_broken();
        if (kind == statement_kind::decisive) fail_lost(error.what(), "08006", shown, kind);
        throw;
    } catch (...) {
        // A fiber unwound while waiting: the statement's outcome is unknown
        // and its result may still arrive. Never reuse this connection.
        mark_broken();
        throw;
    }
    if (batch.empty()) {
        // Not even an error result: the connection went away.
        fail_lost(PQerrorMessage(pg), "08006", shown, kind);
    }
    // A failed statement ends the batch (the server skips the rest).
    const std::size_t commit_lead = commit_first ? 1 : 0;  // the last transaction's COMMIT
    const std::size_t lead = commit_lead + (prepare.empty() ? 0 : 1);
    if (outcome && !prepare.empty() && batch.size() > commit_lead &&
        PQresultStatus(batch[commit_lead].get()) == PGRES_COMMAND_OK) {
        *outcome = prepare_outcome::prepared;  // whatever happens to the rest of the batch
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const ExecStatusType status = PQresultStatus(batch[i].get());
        if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
            if (i < commit_lead) {
                // Only a broken session fails a read-only COMMIT; nothing after it ran.
                mark_broken();
                fail_lost(PQresultErrorMessage(batch[i].get()), "08006", shown, statement_kind::normal);
            }
            if (i < lead && outcome) {
                // The PREPARE failed before the transaction's BEGIN: nothing
                // after it ran, and no transaction is open on the server.
                const char* code = PQresultErrorField(batch[i].get(), PG_DIAG_SQLSTATE);
                if (!code || pg_sqlstate_loses_connection(code) || PQstatus(pg) != CONNECTION_OK) {
                    fail_server(batch[i].get(), shown, kind);
                }
                deferred_ = before;
                *outcome = prepare_outcome::failed;
                return {};
            }
            fail_server(batch[i].get(), i - lead < before.size() ? std::string_view(before[i - lead]) : shown,
                        kind);
        }
    }
    // The statement's own result: the last one (a statement text holding
    // several statements reports the last, as PQexec does).
    if (batch.size() <= before.size() + lead) return {};
    const PGresult* raw = batch.back().get();

    result out;
    const int columns = PQnfields(raw);
    out.columns.reserve(static_cast<std::size_t>(columns));
    std::vector<Oid> types(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
        out.columns.emplace_back(PQfname(raw, c));
        types[static_cast<std::size_t>(c)] = PQftype(raw, c);
    }
    const int rows = PQntuples(raw);
    out.rows.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
        row values;
        values.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(raw, i, c)) {
                values.emplace_back(nullptr);
                continue;
            }
            const char* s = PQgetvalue(raw, i, c);
            const std::size_t n = static_cast<std::size_t>(PQgetlength(raw, i, c));
            switch (types[static_cast<std::size_t>(c)]) {
            case k_int2_oid:
            case k_int4_oid:
            case k_int8_oid: {
                std::int64_t number = 0;
                const auto [end, ec] = std::from_chars(s, s + n, number);
                if (ec == std::errc{} && end == s + n) values.emplace_back(number);
                else values.emplace_back(std::string(s, n));
                break;
            }
            case k_float4_oid:
            case k_float8_oid: {
                double number = 0;
                const auto [end, ec] = std::from_chars(s, s + n, number);
                if (ec == std::errc{} && end == s + n) values.emplace_back(number);
                else values.emplace_back(std::string(s, n));
                break;
            }
            case k_bool_oid:
                values.emplace_back(static_cast<std::int64_t>(n > 0 && s[0] == 't' ? 1 : 0));
                break;
            case k_bytea_oid: {
                blob b;
                if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
                    b.bytes.reserve((n - 2) / 2);
                    for (std::size_t k = 2; k + 1 < n; k += 2) {
                        b.bytes.push_back(
                            static_cast<unsigned char>(util::hex_value(s[k]) * 16 + util::hex_value(s[k + 1])));
                    }
                } else {
                    // bytea_output = escape
                    std::size_t length = 0;
                    unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(s), &length);
                    if (!bytes) throw std::bad_alloc();
                    b.bytes.assign(bytes, bytes + length);
                    PQfreemem(bytes);
                }
                values.emplace_back(std::move(b));
                break;
            }
            default:
                values.emplace_back(std::string(s, n));
                break;
            }
        }
        out.rows.push_back(std::move(values));
    }
    if (!reads) {
        const char* count = PQcmdTuples(const_cast<PGresult*>(raw));
        std::from_chars(count, count + std::strlen(count), out.affected_rows);
    }
    return out;
}

void pg_connection::fail_lost(std::string_view why, std::string state, std::string_view shown,
                              statement_kind kind) {
    const bool was_in_block = in_block_;
    mark_broken();
    std::string reason(why);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    if (reason.empty()) reason = "the server closed the connection";
    if (state.empty() || !pg_sqlstate_loses_connection(state)) state = "08006";
    if (kind == statement_kind::decisive) {
        std::rethrow_exception(make_pg_error(
            error_category::in_doubt, state,
            "the connection to PostgreSQL database \"" + label_ + "\" was lost during \"" +
                std::string(shown) + "\": the transaction's outcome is unknown (" + reason + ")",
            std::string(shown)));
    }
    std::rethrow_exception(make_pg_error(
        error_category::retryable, state,
        "the connection to PostgreSQL database \"" + label_ + "\" was lost" +
            (was_in_block ? " (the transaction was rolled back by the server)" : "") + ": " + reason,
        std::string(shown)));
}

// A server error: the protocol state is clean and the connection usable,
// unless the error says it is going away.
void pg_connection::fail_server(const PGresult* failed, std::string_view shown, statement_kind kind) {
    const char* code = PQresultErrorField(failed, PG_DIAG_SQLSTATE);
    const std::string state = code ? code : "";
    std::string message = PQresultErrorMessage(failed);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (pg_sqlstate_loses_connection(state) || PQstatus(h_->pg) != CONNECTION_OK) {
        fail_lost(message, state, shown, kind);
    }
    if (state.empty()) {
        // Reported by libpq itself, not by the server: the protocol state is unknown.
        fail_lost(message, "08006", shown, kind);
    }
    if (in_block_) {
        if (!aborted_) {
            aborted_ = true;
            aborted_category_ = pg_category(state);
            aborted_code_ = state;
            aborted_message_ = message;
        } else if (state == "25P02") {
            message += " (the transaction was aborted by an earlier error: " + aborted_message_ + ")";
        }
    }
    std::rethrow_exception(make_pg_error(state, message, std::string(shown)));
}

result pg_connection::run_and_convert(std::string_view sql, const std::vector<value>& params,
                                      statement_kind kind) {
    require_usable(sql);
    const auto words = pg_leading_keywords(sql, 3);
    // Session-level state the next user must not inherit (lexical check).
    if (!words.empty()) {
        const std::string& w = words[0];
        const std::string second = words.size() > 1 ? words[1] : std::string();
        if ((w == "SET" && second != "LOCAL" && second != "TRANSACTION") || w == "RESET" ||
            w == "LISTEN" || w == "DECLARE" || (w == "PREPARE" && second != "TRANSACTION") ||
            (w == "CREATE" && (second == "TEMP" || second == "TEMPORARY" || second == "GLOBAL" ||
                               second == "LOCAL" || second == "UNLOGGED"))) {
            session_dirty_ = true;
        }
    }
    if (pg_contains_word(sql, "set_config") || pg_contains_word(sql, "advisory_lock")) {
        session_dirty_ = true;
    }
    // What a read-only COMMIT must not leave unconfirmed: anything but a plain
    // read (a NOTIFY is delivered, and may fail, at COMMIT; a transaction's
    // advisory locks end there).
    if (!is_read_statement(words) || pg_contains_word(sql, "pg_notify") ||
        pg_contains_word(sql, "pg_advisory_xact_lock") || pg_contains_word(sql, "pg_try_advisory_xact_lock")) {
        only_reads_ = false;
    }
    try {
        result out = run_maybe_prepared(sql, params, words, kind);
        track_statement(words, true);
        return out;
    } catch (...) {
        track_statement(words, false);
        throw;
    }
}

namespace {

// Statements worth a server-side prepared statement: plain DML, whose text
// repeats (the ORM's) and whose planning costs the server more than running.
bool is_preparable(const std::vector<std::string>& words) {
    if (words.empty()) return false;
    const std::string& w = words[0];
    return w == "SELECT" || w == "INSERT" || w == "UPDATE" || w == "DELETE";
}

// The parameter types a prepared statement is made with: what the literal
// would have been (integers, reals, bytea), `unknown` (inferred from the
// context, as a quoted literal is) for text and NULL.
// Appends "(a, b, ...)" of `count` items; nothing for none.
template <class Item>
void append_arguments(std::string& out, std::size_t count, const Item& item) {
    if (count == 0) return;
    out += '(';
    for (std::size_t i = 0; i < count; ++i) {
        if (i) out += ", ";
        out += item(i);
    }
    out += ')';
}

const char* parameter_type(const value& v) {
    if (std::holds_alternative<std::int64_t>(v)) return "int8";
    if (std::holds_alternative<double>(v)) return "float8";
    if (std::holds_alternative<blob>(v)) return "bytea";
    return "unknown";
}

}  // namespace

result pg_connection::run_maybe_prepared(std::string_view sql, const std::vector<value>& params,
                                         const std::vector<std::string>& words, statement_kind kind) {
    const bool reads = is_read_statement(words);
    // The literal form, built only when it is what goes out.
    const auto as_text = [&] {
        return pg_expand_placeholders(sql, params.size(), [&](std::size_t i) { return literal(params[i]); });
    };
    if (!settings_->prepare_statements || !is_preparable(words)) return run(as_text(), sql, kind, reads);
    std::string key(sql);
    key += '\x1f';
    for (const auto& p : params) key += parameter_type(p)[0];
    auto found = prepared_.find(key);
    std::string prepare;  // PREPARE to send first, or empty: prepared already
    std::string name;
    if (found != prepared_.end()) {
        if (found->second.empty()) return run(as_text(), sql, kind, reads);  // failed to prepare before
        name = found->second;
    } else {
        // A failed PREPARE aborts the transaction it runs in: only where it
        // runs before the transaction's BEGIN (or outside any).
        const bool before_block = !in_block_ || !deferred_.empty();
        if (!before_block || prepared_.size() >= k_max_prepared) return run(as_text(), sql, kind, reads);
        name = "atrium_" + std::to_string(++prepared_count_);
        prepare = "PREPARE " + name;
        append_arguments(prepare, params.size(), [&](std::size_t i) { return std::string(parameter_type(params[i])); });
        prepare += " AS ";
        prepare += pg_expand_placeholders(sql, params.size(), [](std::size_t i) { return "$" + std::to_string(i + 1); });
    }
    std::string execute = "EXECUTE " + name;
    append_arguments(execute, params.size(), [&](std::size_t i) { return literal(params[i]); });
    prepare_outcome outcome = prepare_outcome::none;
    try {
        result out = run(execute, sql, kind, reads, prepare, &outcome);
        if (outcome == prepare_outcome::failed) {
            // Not preparable (a parameter whose type the server cannot infer,
            // say): nothing else of the batch ran; the literal text from now on.
            prepared_.emplace(std::move(key), std::string());
            return run(as_text(), sql, kind, reads);
        }
        if (outcome == prepare_outcome::prepared) prepared_.emplace(std::move(key), std::move(name));
        return out;
    } catch (const database_error& e) {
        // Prepared even if the statement then failed: keep the name, or every
        // failing call would leave one more prepared statement behind.
        if (outcome == prepare_outcome::prepared) prepared_.emplace(key, name);
        // Dropped by the session (DEALLOCATE, DISCARD) or outdated by a schema
        // change: forget them all; a retry of the transaction prepares afresh.
        const std::string_view what = e.what();
        const bool stale = e.code() == "26000" ||
                           (e.code() == "0A000" && what.find("cached plan") != std::string_view::npos);
        if (!stale) throw;
        prepared_.clear();
        std::rethrow_exception(make_pg_error(error_category::retryable, e.code(),
                                             what.substr(0, what.rfind(" [SQLSTATE")), std::string(sql)));
    }
}

// Follows transaction control run through execute() (BEGIN, COMMIT, ...), so
// that in_transaction() and the pool's reset stay right.
void pg_connection::track_statement(const std::vector<std::string>& words, bool succeeded) noexcept {
    if (words.empty() || broken_) return;
    const std::string& w = words[0];
    const std::string second = words.size() > 1 ? words[1] : std::string();
    if (w == "BEGIN" || (w == "START" && second == "TRANSACTION")) {
        if (succeeded) {
            in_block_ = true;
            aborted_ = false;
        }
    } else if (w == "COMMIT" || w == "END" || w == "ABORT" ||
               (w == "PREPARE" && second == "TRANSACTION")) {
        if (second != "PREPARED") {
            // Success or failure, the transaction block is over (a failed
            // COMMIT or PREPARE TRANSACTION rolls back).
            in_block_ = false;
            aborted_ = false;
        }
    } else if (w == "ROLLBACK") {
        if (second == "TO" || (second == "TRANSACTION" && words.size() > 2 && words[2] == "TO") ||
            (second == "WORK" && words.size() > 2 && words[2] == "TO")) {
            if (succeeded) aborted_ = false;
        } else if (second != "PREPARED") {
            in_block_ = false;
            aborted_ = false;
        }
    }
}

result pg_connection::execute(std::string_view sql, const std::vector<value>& params) {
    return run_and_convert(sql, params, statement_kind::normal);
}

result pg_connection::execute_decisive(std::string_view sql, const std::vector<value>& params) {
    return run_and_convert(sql, params, statement_kind::decisive);
}

// ---------------------------------------------------------------------------
// Transactions

bool pg_connection::in_transaction() const { return session_ || in_block_; }

void pg_connection::begin(const begin_options& options) {
    require_usable("BEGIN");
    if (in_transaction()) throw_misuse("a transaction is already open on this connection", "BEGIN", "25001");
    // A zero or negative timeout means none (statement_timeout = 0 disables it).
    const bool timed = options.statement_timeout && options.statement_timeout->count() > 0;
    lock_wait_ = std::chrono::milliseconds(0);
    readonly_ = options.readonly;
    autocommit_ = options.autocommit;
    aborted_ = false;
    try {
        if (options.autocommit) {
            {
                // Session-level settings for the autocommit session, in one
                // round trip; end_session() resets them. Statements on their
                // own run READ COMMITTED, the server's default (the session
                // default of our connections is REPEATABLE READ).
                std::string sql = "SELECT set_config('default_transaction_isolation', 'read committed', false)";
                if (options.readonly) sql += ", set_config('default_transaction_read_only', 'on', false)";
                if (timed) {
                    sql += ", set_config('statement_timeout', '" + ms_text(*options.statement_timeout) +
                           "', false)";
                }
                own_settings_ = true;
                run(sql, sql, statement_kind::normal, true);
            }
        } else {
            // REPEATABLE READ is the session default (apply_session_defaults).
            static const std::string read_write = "BEGIN";
            static const std::string read_only = "BEGIN READ ONLY";
            // Sent with the first statement (the snapshot is taken there anyway).
            deferred_.assign(1, options.readonly ? read_only : read_write);
            in_block_ = true;
            only_reads_ = true;
            if (timed) {
                // Transaction-local: it ends with the transaction and cannot
                // leak to the next user of the connection.
                deferred_.push_back("SET LOCAL statement_timeout = " + ms_text(*options.statement_timeout));
            }
        }
    } catch (const std::exception&) {
        if (in_block_ && !broken_) {
            try {
                run("ROLLBACK", "ROLLBACK", statement_kind::normal);
            } catch (const std::exception&) {
                mark_broken();
            }
        }
        in_block_ = false;
        end_session();
        throw;
    } catch (...) {
        mark_broken();
        throw;
    }
    session_ = true;
    timeout_ = timed ? options.statement_timeout : std::nullopt;
}

void pg_connection::end_session() noexcept {
    // Our own autocommit-session settings: reset now, so that they end with
    // the session even if the connection is used again without the pool.
    // Skipped during stack unwinding (no waiting there): the pool's reset()
    // discards the connection instead.
    if (own_settings_ && h_ && !broken_) {
        if (std::uncaught_exceptions() > 0) {
            mark_broken();
        } else {
            try {
                run("RESET ALL", "RESET ALL", statement_kind::normal);
                apply_session_defaults();
            } catch (const std::exception&) {
                mark_broken();
            }
        }
    }
    own_settings_ = false;
    session_ = false;
    autocommit_ = false;
    readonly_ = false;
    timeout_.reset();
    if (!in_block_) {
        aborted_ = false;
        deferred_.clear();
    }
}

void pg_connection::commit() {
    if (!h_) throw_misuse("the PostgreSQL connection is closed", "COMMIT", "08003");
    if (broken_) {
        const bool had_work = session_ || in_block_;
        end_session();
        if (!had_work) return;
        // Nothing was sent: the server rolled back when the connection went.
        throw operational_error("COMMIT impossible: the connection to PostgreSQL database \"" +
                                    label_ +
                                    "\" was lost earlier and the server rolled the transaction "
                                    "back [SQLSTATE 08003]",
                                error_category::retryable, "08003", 0, "COMMIT");
    }
    if (in_block_ && !deferred_.empty()) {
        // No statement ran: the block never reached the server.
        deferred_.clear();
        in_block_ = false;
    }
    if (in_block_) {
        if (aborted_) {
            const error_category category = aborted_category_;
            const std::string code = aborted_code_;
            const std::string message = aborted_message_;
            try {
                run("ROLLBACK", "ROLLBACK", statement_kind::normal);
            } catch (const std::exception&) {
                mark_broken();
            }
            in_block_ = false;
            end_session();
            std::rethrow_exception(make_pg_error(
                category, code,
                "COMMIT impossible: the transaction was rolled back because an earlier statement "
                "failed: " +
                    message,
                "COMMIT"));
        }
        if (readonly_ && only_reads_) {
            // Nothing to make durable and nothing delivered at COMMIT: send it
            // and read the reply later (absorb_unread_commit). If the
            // connection is lost first, the server ends the transaction just
            // the same. A pooled connection does not even send it yet: the
            // pool sends it at release, unless the connection goes straight
            // to a waiter, whose first round trip then carries it.
            if (checked_out_) commit_unsent_ = true;
            else send_unsent_commit(true);
            in_block_ = false;
            end_session();
            return;
        }
        try {
            run("COMMIT", "COMMIT", statement_kind::decisive);
        } catch (const std::exception&) {
            // Committed or not, the block is over (a failed COMMIT rolls back).
            in_block_ = false;
            aborted_ = false;
            end_session();
            throw;
        } catch (...) {
            mark_broken();
            throw;
        }
        in_block_ = false;
    }
    end_session();
}

void pg_connection::rollback() {
    if (!h_ || broken_) {
        // Closed or lost: the server already rolled back.
        in_block_ = false;
        deferred_.clear();
        end_session();
        return;
    }
    if (in_block_ && !deferred_.empty()) {
        deferred_.clear();  // nothing was sent
        in_block_ = false;
    }
    if (in_block_) {
        try {
            run("ROLLBACK", "ROLLBACK", statement_kind::normal);
        } catch (const std::exception&) {
            in_block_ = false;
            end_session();
            throw;
        } catch (...) {
            mark_broken();
            throw;
        }
        in_block_ = false;
    }
    end_session();
}

bool pg_connection::reset() noexcept {
    if (!h_ || broken_) return false;
    const bool needs_io = (in_block_ && deferred_.empty()) || own_settings_ || session_dirty_;
    if (needs_io && std::uncaught_exceptions() > 0) {
        // Called while an exception unwinds the stack (a destructor): do not
        // wait for the server there. Closing the connection rolls back.
        mark_broken();
        return false;
    }
    try {
        if (in_block_) rollback();
        else end_session();
        if (session_dirty_ && !broken_) {
            prepared_.clear();  // DISCARD ALL deallocates them
            run("DISCARD ALL", "DISCARD ALL", statement_kind::normal);
            apply_session_defaults();
            session_dirty_ = false;
        }
    } catch (const std::exception&) {
        mark_broken();
    }
    return !broken_;
}

void pg_connection::savepoint(std::string_view name) {
    const std::string sql = "SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);
}

void pg_connection::release_savepoint(std::string_view name) {
    const std::string sql = "RELEASE SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);
}

void pg_connection::rollback_to_savepoint(std::string_view name) {
    const std::string sql = "ROLLBACK TO SAVEPOINT " + quote_name(name);
    require_block(sql);
    execute(sql);  // clears aborted_ on success (track_statement)
}

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
