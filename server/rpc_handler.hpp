#pragma once
/// @file
/// @brief The interface between the transport (HTTP + JSON-RPC codec) and the
/// dispatcher. No Beast or Asio type appears here.
///
/// The transport parses HTTP and the JSON-RPC body (either dialect, SPEC §8),
/// validates the special values of §8.5 (they stay in memory as their JSON
/// objects, e.g. `{"__class__":"Decimal","decimal":"1.5"}`), and calls
/// `rpc_handler::handle()` once per call (once per member of a 2.0 batch,
/// notifications included) on the request's fiber. `handle()` runs in
/// synchronous style: blocking work belongs in `run_blocking()`
/// (server/worker_pool.hpp), database waits suspend the fiber.
///
/// Outcome: `handle()` returns an `rpc_result` on success; on failure it
/// THROWS and the transport maps the exception to the wire. It reads the
/// `atrium::error`'s category (util/error.hpp) and its `wire()` shape (name,
/// JSON-RPC 2.0 code, bare-mode or HTTP status, Retry-After), not its class:
///
/// | thrown | Tryton envelope | Tryton bare | JSON-RPC 2.0 |
/// | --- | --- | --- | --- |
/// | `http_error` (category http: 401/403/404/408/429/501…) | that HTTP status, plain | same | same (in a batch: member error -32000, `data.status`) |
/// | category timeout (`call_timeout_error`: the call's deadline passed, or its client left) | HTTP 408, plain | same | HTTP 408, error -32008 with `data` = `{"status": 408}` (in a batch: that member error, HTTP 200) |
/// | `service_unavailable` (transient: database down, disk full, locks busy after every retry) | HTTP 503 + `Retry-After`, plain | same | HTTP 503 + `Retry-After`, error -32050 with `data` = `{"retryable": true, "retry_after": s, "status": 503}` (in a batch: that member error, HTTP 200) |
/// | `modules::user_error` / `access_error` | 200, `error` = payload() | 400 | -32001 / -32005 |
/// | `modules::user_warning` | 200, payload() | 409 | -32002 |
/// | `modules::login_exception` | 200, payload() | 403 | -32003 |
/// | `modules::concurrency_exception` | 200, payload() | 423 | -32004 |
/// | `modules::rate_limit_exception` | HTTP 429 | 429 | HTTP 429 (in a batch: member error -32029) |
/// | other `modules::tryton_error` | 200, payload() | 400 | -32000 |
/// | `method_not_found` (category not_found) | on `/`: 200, `["'<name>'", ""]`; with a database: HTTP 403 | same | -32601 |
/// | `atrium::value_error` / `atrium::type_error` (category invalid_argument: argument conversion) | 200, `[message, ""]` | 500 | -32602 |
/// | any other error or exception | 200, `[text, traceback]` | 500 | -32603 |
///
/// "text" of an unexpected exception is "Internal error (request <id>)" unless the
/// server runs with `--dev`, where it is the exception's type and message
/// (the traceback slot then carries the same description). The full
/// description is always logged, never sent in production mode.

#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atrium::db {
class cancellation;
class database;
}

namespace atrium::server {

/// Which wire format the call came in (SPEC §8.2).
enum class rpc_dialect {
    tryton_envelope,  ///< {"id", "method", "params"} exactly
    tryton_bare,      ///< any other object with "method": the raw result is the body
    jsonrpc2,         ///< "jsonrpc": "2.0" (single or batch member)
};

/// The HTTP facts a dispatcher needs (header values verbatim, empty when absent).
struct rpc_http_info {
    std::string authorization;     ///< Authorization
    std::string host;              ///< Host
    std::string origin;            ///< Origin
    std::string x_requested_with;  ///< X-Requested-With ("XMLHttpRequest" ⇒ no WWW-Authenticate on 401)
    std::string user_agent;        ///< User-Agent
    std::string remote_address;    ///< peer IP address, no port
    std::string scheme = "http";   ///< "http" (TLS terminates in front of atriumd)
    /// When the request was read (its call's deadline counts from here; the
    /// epoch value: when the handler is called).
    std::chrono::steady_clock::time_point received{};
    /// X-Atrium-Timeout, parsed (server/call_deadline.hpp): lowers the call's timeout.
    std::optional<std::chrono::milliseconds> timeout{};
    /// Cancelled when the client goes away during the call (null: never).
    std::shared_ptr<db::cancellation> cancel{};
};

/// What the dispatcher reports back for the call's log line.
struct rpc_call_notes {
    std::string user;  ///< login or user id, when known
    int retries = 0;   ///< retry-loop iterations beyond the first
    // Where the call's time went (nanoseconds; the slow-call log line):
    std::uint64_t pool_wait_ns = 0;  ///< waiting for pooled connections
    std::uint64_t commit_ns = 0;     ///< committing
    std::uint64_t backoff_ns = 0;    ///< sleeping between retries
};

/// One call.
struct rpc_request {
    /// From the route: `/` ⇒ none; `/<db>/` and `/<db>/rpc/` ⇒ that name,
    /// already validated (letters, digits, '_', '.', '-'; not "." or "..").
    std::optional<std::string> database;
    std::string method;
    nlohmann::json params = nlohmann::json::array();  ///< positional (Tryton: the last one is the context for object methods)
    nlohmann::json kwargs = nlohmann::json::object(); ///< 2.0 named params (the "context" key included, as sent)
    nlohmann::json id;                                ///< the request id as sent (null if absent)
    bool notification = false;                        ///< 2.0 without "id": the reply is dropped
    rpc_dialect dialect = rpc_dialect::tryton_envelope;
    rpc_http_info http;
    std::string request_id;                           ///< server-side id for logs ("r42" or "r42.3" in batches)
    /// Filled in by the handler if it likes; used only for the call's log line.
    mutable rpc_call_notes notes;
};

/// A successful call.
struct rpc_result {
    nlohmann::json value;                  ///< the method's result (special values as §8.5 objects)
    std::optional<int> cache_seconds{};    ///< sent as `X-Tryton-Cache: <seconds>` (single calls only)
};

/// An HTTP-level failure: the transport answers with `status` and a short
/// plain-text body. 401 gets `WWW-Authenticate: Basic realm="Tryton"` unless the
/// request has `X-Requested-With: XMLHttpRequest`; 429/503 get `Retry-After`
/// when `retry_after_seconds` is set.
class http_error : public error {
public:
    explicit http_error(int status, std::string message = {}, std::optional<int> retry_after_seconds = {})
        : error(message.empty() ? "HTTP " + std::to_string(status) : message, error_category::http),
          status_(status), retry_after_(retry_after_seconds) {}
    int status() const noexcept { return status_; }
    std::optional<int> retry_after_seconds() const noexcept { return retry_after_; }
    wire_shape wire() const override { return {"", -32000, status_, retry_after_}; }

private:
    int status_;
    std::optional<int> retry_after_;
};

/// A transient failure the client should retry after `retry_after_seconds`
/// (the database is unreachable, its disk is full, a lock stayed busy through
/// every retry). Never a bug: internal errors stay for those.
class service_unavailable : public http_error {
public:
    explicit service_unavailable(std::string message, int retry_after_seconds)
        : http_error(503, std::move(message), retry_after_seconds) {}
    /// JSON-RPC 2.0 answers it with error -32050 and `data.retryable`.
    wire_shape wire() const override { return {"", -32050, status(), retry_after_seconds(), true}; }
};

/// The method does not exist or is not exposed on this route.
class method_not_found : public error {
public:
    explicit method_not_found(std::string method)
        : error("Method not found: " + method, error_category::not_found), method_(std::move(method)) {}
    const std::string& method() const noexcept { return method_; }

private:
    std::string method_;
};

/// Who waits on `POST /<db>/bus`: the verified user and the database.
struct bus_subscriber {
    std::int64_t user = -1;
    std::shared_ptr<db::database> database;
};

/// @brief What the transport calls. Implementations must be safe to call from
/// several threads at once (one io_context per thread).
class rpc_handler {
public:
    virtual ~rpc_handler() = default;
    /// Performs one call; throws on failure (table above).
    virtual rpc_result handle(const rpc_request& request) = 0;
    /// "Authenticated" for the transport's body-limit and gzip decisions:
    /// true only when the request's credentials are VERIFIED for `database`
    /// (a forged or expired session must not open the large limit). Asked
    /// before the body is read, only for a body larger than
    /// `request.max_size` or gzip-encoded, on the request's fiber (it may wait
    /// for the database). May throw http_error (401 for credentials that are
    /// wrong, 404, 429…): the transport answers with it and reads no body.
    /// Default: false (nothing verified: the small limit, no gzip).
    virtual bool authenticated_for_limits(const std::optional<std::string>& database, const rpc_http_info& http);
    /// `POST /<db>/bus` (issue 22): the user whose credentials the request
    /// carries, checked as a call's session is (the session cache, else the
    /// database), on the request's fiber. Throws http_error as a call would
    /// (401 for wrong credentials, 404, 429). Default: 501 (no bus).
    virtual bus_subscriber subscriber_for_bus(const std::string& database, const rpc_http_info& http);
};

/// SPEC §7.1: `Session base64("<login>:<user_id>:<key>")` with exactly three
/// ':'-separated parts and an integer user id, or `Basic base64("<login>:<password>")`.
bool syntactically_authenticated(std::string_view authorization);

/// @brief The handler for what needs no database (SPEC §6.1 on `/`):
/// `common.server.version` → the version string (on `/` only); every other
/// method, and everything under a database route, ⇒ `method_not_found`. The real dispatcher can delegate to it for `/`.
class builtin_handler : public rpc_handler {
public:
    explicit builtin_handler(std::string version) : version_(std::move(version)) {}
    rpc_result handle(const rpc_request& request) override;

private:
    std::string version_;
};

}  // namespace atrium::server
