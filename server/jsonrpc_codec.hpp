#pragma once
/// @file
/// @brief The JSON-RPC codec (SPEC §8.1–§8.5): one HTTP request body in, one
/// HTTP reply out, calling an rpc_handler once per call. No HTTP library
/// here: the transport (http_server.cpp) feeds it and writes the reply.

#include "server/rpc_handler.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::server {

/// What the transport sends back (status, extra headers, body).
struct rpc_http_reply {
    int status = 200;
    std::string content_type = "application/json";  ///< empty: no body (204)
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

/// What the transport knows about the request before the body is decoded.
struct rpc_call_context {
    std::optional<std::string> database;  ///< from the route
    rpc_http_info http;
    std::string request_id;               ///< "r<N>"
};

/// One finished call, for the log line.
struct rpc_call_record {
    std::string request_id;
    std::string method;
    std::optional<std::string> database;
    rpc_call_notes notes;
    double duration_ms = 0;
    std::string outcome;  ///< "ok", or the error kind ("UserError", "HTTP 401", "internal error"…)
};

struct codec_options {
    bool dev = false;  ///< internal errors carry their description
    /// Called once per call (default: one info line through atrium::log_info).
    std::function<void(const rpc_call_record&)> log_call;
    int slow_call_ms = 0;  ///< log.slow_call_ms: longer calls get a slow-call warning (0: none)
};

/// Decodes `body` (Content-Type `content_type`), calls `handler` per call and
/// encodes the reply. Never throws for bad input: every problem becomes a
/// reply in the protocol's shape (boost's forced_unwind is rethrown).
rpc_http_reply handle_jsonrpc(std::string_view body, std::string_view content_type, const rpc_call_context& context,
                              rpc_handler& handler, const codec_options& options = {});

/// A plain-text HTTP error reply (401 gets WWW-Authenticate unless the request
/// came with X-Requested-With: XMLHttpRequest; Retry-After when given).
rpc_http_reply plain_http_reply(int status, std::string_view message, const rpc_http_info& http = {},
                                std::optional<int> retry_after_seconds = {});

/// The default log line: "rpc <id> <method> db=<db> user=<user> <ms>ms <outcome>[ retries=<n>]".
std::string format_call_record(const rpc_call_record& record);

/// Logs one finished call, whichever codec served it: its line (options.log_call,
/// else log.format's text or JSON line) and, past log.slow_call_ms, where the time went.
void log_finished_call(const rpc_request& request, const codec_options& options, double duration_ms,
                       std::string_view outcome);

/// The same line from its parts (the default logger formats it without a record).
std::string format_call_line(std::string_view request_id, std::string_view method,
                             const std::optional<std::string>& database, const rpc_call_notes& notes,
                             double duration_ms, std::string_view outcome);

}  // namespace atrium::server
