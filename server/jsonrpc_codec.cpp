#include "server/jsonrpc_codec.hpp"
// Fiber paths: every catch (...) here lets a fiber's forced_unwind through first
// (fiber::rethrow_if_unwinding(), or fiber::is_unwinding() then rethrow).

#include "fiber/unwind.hpp"
#include "server/call_deadline.hpp"
#include "server/jsonrpc_values.hpp"
#include "server/ops_log.hpp"
#include "server/ops_metrics.hpp"
#include "server/worker_pool.hpp"
#include "transaction/logging.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>

namespace atrium::server {

namespace {

using json = nlohmann::json;

/// A call's failure, with everything each dialect needs to encode it.
struct failure {
    enum class kind { http, unavailable, timeout, rate_limit, tryton, not_found, invalid_params, internal } what = kind::internal;
    int http_status = 500;            ///< kind::http, unavailable, rate_limit
    std::optional<int> retry_after;   ///< kind::http, unavailable
    std::string message;
    json payload;                     ///< the Tryton error array
    int bare_status = 500;            ///< Tryton bare mode
    int code = -32603;                ///< JSON-RPC 2.0 (the error's wire shape)
    std::string outcome;              ///< for the log
};

/// The failure of an atrium::error its category and wire shape describe, or
/// nothing for the categories the client sees as an internal error.
std::optional<failure> client_failure(const error& e) {
    const wire_shape wire = e.wire();
    failure f;
    f.message = e.what();
    f.code = wire.jsonrpc_code;
    f.bare_status = wire.http_status;
    switch (e.category()) {
    case error_category::http:
        // A retryable one (503) has a JSON-RPC 2.0 body of its own.
        f.what = wire.retryable ? failure::kind::unavailable : failure::kind::http;
        f.http_status = wire.http_status;
        f.retry_after = wire.retry_after;
        f.outcome = "HTTP " + std::to_string(wire.http_status);
        return f;
    case error_category::timeout:
        // The call's deadline passed (or its client left): rolled back, 408.
        // Only as the handler said so: a database's own timeout reaching the
        // codec unconverted stays an internal error (no guessing from it).
        if (!dynamic_cast<const call_timeout_error*>(&e)) return std::nullopt;
        f.what = failure::kind::timeout;
        f.http_status = wire.http_status;
        f.outcome = "timeout";
        return f;
    case error_category::rate_limited:
        f.what = failure::kind::rate_limit;
        f.http_status = wire.http_status;
        f.payload = e.payload();
        f.outcome = wire.name;
        return f;
    case error_category::user:
    case error_category::user_warning:
    case error_category::access:
    case error_category::login:
    case error_category::concurrency:
        f.what = failure::kind::tryton;
        f.payload = e.payload();
        f.outcome = wire.name;
        return f;
    case error_category::not_found:
        f.what = failure::kind::not_found;
        f.outcome = "method not found";
        return f;
    case error_category::invalid_argument:
        f.what = failure::kind::invalid_params;
        f.outcome = "invalid params";
        return f;
    default:
        return std::nullopt;
    }
}

/// An unexpected error: logged in full, described to the client in dev mode only.
failure internal_failure(const std::exception_ptr& error, const rpc_request& request, const codec_options& options) {
    const std::string description = describe_exception(error);
    // The whole story goes to the log only; the client sees it in dev mode.
    log_error("rpc " + request.request_id + " " + request.method + " failed: " + description);
    failure f;
    f.what = failure::kind::internal;
    f.message = options.dev ? description : "Internal error (request " + request.request_id + ")";
    f.payload = json::array({f.message, options.dev ? description : std::string()});
    f.outcome = "internal error";
    return f;
}

failure classify(const std::exception_ptr& error, const rpc_request& request, const codec_options& options) {
    try {
        std::rethrow_exception(error);
    } catch (const atrium::error& e) {
        if (auto f = client_failure(e)) return std::move(*f);
        return internal_failure(error, request, options);
    } catch (...) {
        fiber::rethrow_if_unwinding();
        return internal_failure(error, request, options);
    }
}

ops::call_outcome metrics_outcome(failure::kind what) {
    switch (what) {
    case failure::kind::http: return ops::call_outcome::http_error;
    case failure::kind::unavailable: return ops::call_outcome::unavailable;
    case failure::kind::timeout: return ops::call_outcome::timeout;  // past the call's deadline (408)
    case failure::kind::rate_limit: return ops::call_outcome::rate_limited;
    case failure::kind::tryton: return ops::call_outcome::user_error;
    case failure::kind::not_found: return ops::call_outcome::not_found;
    case failure::kind::invalid_params: return ops::call_outcome::invalid_params;
    case failure::kind::internal: break;
    }
    return ops::call_outcome::internal;
}

struct call_outcome {
    std::optional<rpc_result> result;
    std::optional<failure> error;
};

call_outcome run_call(const rpc_request& request, rpc_handler& handler, const codec_options& options) {
    const auto start = std::chrono::steady_clock::now();
    call_outcome outcome;
    try {
        outcome.result = handler.handle(request);
        encode_special_values(outcome.result->value);
    } catch (...) {
        fiber::rethrow_if_unwinding();
        outcome.error = classify(std::current_exception(), request, options);
    }
    const double duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::string_view result = outcome.error ? std::string_view(outcome.error->outcome) : "ok";
    ops::record_call(request.method, outcome.error ? metrics_outcome(outcome.error->what) : ops::call_outcome::ok,
                     duration_ms / 1000.0);
    log_finished_call(request, options, duration_ms, result);
    return outcome;
}

rpc_http_reply json_reply(int status, const json& body) {
    rpc_http_reply reply;
    reply.status = status;
    dump_ascii_to(reply.body, body);
    return reply;
}

/// json_reply(200, {{"id", id}, {"result", value}}) without building that
/// object: the keys in the map's (sorted) order, as dump() writes them.
rpc_http_reply envelope_result_reply(const json& id, const json& value) {
    rpc_http_reply reply;
    reply.body.reserve(64);
    dump_ascii_object_to(reply.body, {{"id", &id}, {"result", &value}});
    return reply;
}

rpc_http_reply no_content() {
    rpc_http_reply reply;
    reply.status = 204;
    reply.content_type.clear();
    return reply;
}

void add_cache_header(rpc_http_reply& reply, const rpc_result& result) {
    if (result.cache_seconds) reply.headers.emplace_back("X-Tryton-Cache", std::to_string(*result.cache_seconds));
}

rpc_http_reply http_failure_reply(const failure& f, const rpc_request& request) {
    return plain_http_reply(f.http_status, f.message, request.http, f.retry_after);
}

// --- Tryton dialect -----------------------------------------------------------

json tryton_error_array(const failure& f, const rpc_request& request) {
    switch (f.what) {
    case failure::kind::not_found:
        return json::array({"'" + request.method + "'", ""});
    case failure::kind::invalid_params:
        return json::array({f.message, ""});
    default:
        return f.payload;
    }
}

rpc_http_reply tryton_reply(const rpc_request& request, const call_outcome& outcome) {
    if (outcome.result) {
        rpc_http_reply reply = request.dialect == rpc_dialect::tryton_envelope
                                   ? envelope_result_reply(request.id, outcome.result->value)
                                   : json_reply(200, outcome.result->value);
        add_cache_header(reply, *outcome.result);
        return reply;
    }
    const failure& f = *outcome.error;
    if (f.what == failure::kind::http || f.what == failure::kind::unavailable || f.what == failure::kind::rate_limit ||
        f.what == failure::kind::timeout)
        return http_failure_reply(f, request);
    // An unknown method under a database route is a refusal (403); on "/" a generic error.
    if (f.what == failure::kind::not_found && request.database) {
        return plain_http_reply(403, "Method not found: " + request.method, request.http);
    }
    const json error = tryton_error_array(f, request);
    if (request.dialect == rpc_dialect::tryton_envelope) return json_reply(200, {{"id", request.id}, {"error", error}});
    return json_reply(f.bare_status, error);
}

/// `body` is consumed: "id" and "params" are moved into the call.
rpc_http_reply tryton_call(json& body, const rpc_call_context& context, rpc_handler& handler,
                           const codec_options& options, rpc_dialect dialect) {
    const auto method = body.find("method");
    if (method == body.end() || !method->is_string()) return plain_http_reply(400, "Invalid request: \"method\" must be a string");
    rpc_request request;
    request.database = context.database;
    request.http = context.http;
    request.request_id = context.request_id;
    request.dialect = dialect;
    request.method = method->get<std::string>();
    if (const auto id = body.find("id"); id != body.end()) request.id = std::move(*id);
    if (const auto params = body.find("params"); params != body.end()) {
        if (!params->is_array()) return plain_http_reply(400, "Invalid request: \"params\" must be an array");
        request.params = std::move(*params);
    }
    try {
        validate_special_values(request.params);
    } catch (const special_value_error& e) {
        // The message quotes the client's value: ASCII JSON, never raw bytes.
        return json_reply(400, {{"error", std::string("Unable to read JSON request: ") + e.what()}});
    }
    return tryton_reply(request, run_call(request, handler, options));
}

// --- JSON-RPC 2.0 -------------------------------------------------------------

json error_object(int code, const std::string& message, const json& data = nullptr) {
    json error = {{"code", code}, {"message", message}};
    if (!data.is_null()) error["data"] = data;
    return error;
}

json response_error(const json& id, json error) {
    return {{"jsonrpc", "2.0"}, {"error", std::move(error)}, {"id", id}};
}

json invalid_request(const json& id, const std::string& why) {
    return response_error(id, error_object(-32600, "Invalid Request", why));
}

/// Either a response object, nothing (a notification), or a plain HTTP reply
/// (an HTTP-level failure of a single, non-batch call).
struct member_reply {
    std::optional<json> response;
    std::optional<rpc_http_reply> http;
    std::optional<int> cache_seconds;
};

member_reply jsonrpc_member(const json& member, const rpc_call_context& context, std::string request_id,
                            rpc_handler& handler, const codec_options& options, bool in_batch) {
    member_reply out;
    if (!member.is_object()) {
        out.response = invalid_request(nullptr, "a request must be an object");
        return out;
    }
    const auto id_it = member.find("id");
    const bool notification = id_it == member.end();
    json id = notification ? json(nullptr) : *id_it;
    if (!notification && !id.is_string() && !id.is_number() && !id.is_null()) {
        out.response = invalid_request(nullptr, "\"id\" must be a string, a number or null");
        return out;
    }
    const auto version = member.find("jsonrpc");
    if (version == member.end() || *version != "2.0") {
        out.response = invalid_request(id, "\"jsonrpc\" must be exactly \"2.0\"");
        return out;
    }
    const auto method = member.find("method");
    if (method == member.end() || !method->is_string()) {
        out.response = invalid_request(id, "\"method\" must be a string");
        return out;
    }
    rpc_request request;
    request.database = context.database;
    request.http = context.http;
    request.request_id = std::move(request_id);
    request.dialect = rpc_dialect::jsonrpc2;
    request.method = method->get<std::string>();
    request.id = id;
    request.notification = notification;
    if (const auto params = member.find("params"); params != member.end()) {
        if (params->is_array()) {
            request.params = *params;
        } else if (params->is_object()) {
            request.kwargs = *params;
        } else {
            out.response = invalid_request(id, "\"params\" must be an array or an object");
            return out;
        }
    }
    if (request.method.rfind("rpc.", 0) == 0) {
        if (!notification) out.response = response_error(id, error_object(-32601, "Method not found", request.method));
        return out;
    }
    try {
        validate_special_values(request.params);
        validate_special_values(request.kwargs);
    } catch (const special_value_error& e) {
        if (!notification) out.response = response_error(id, error_object(-32602, "Invalid params", e.what()));
        return out;
    }

    const call_outcome outcome = run_call(request, handler, options);
    if (notification) return out;
    if (outcome.result) {
        out.response = json{{"jsonrpc", "2.0"}, {"result", outcome.result->value}, {"id", id}};
        out.cache_seconds = outcome.result->cache_seconds;
        return out;
    }
    const failure& f = *outcome.error;
    switch (f.what) {
    case failure::kind::http:
        if (!in_batch) {
            out.http = http_failure_reply(f, request);
        } else {
            out.response = response_error(id, error_object(f.code, f.message, json{{"status", f.http_status}}));
        }
        break;
    case failure::kind::unavailable: {
        json data = {{"retryable", true}, {"status", f.http_status}};
        if (f.retry_after) data["retry_after"] = *f.retry_after;
        out.response = response_error(id, error_object(f.code, f.message, data));
        if (!in_batch) {
            out.http = json_reply(f.http_status, *out.response);
            if (f.retry_after) out.http->headers.emplace_back("Retry-After", std::to_string(*f.retry_after));
        }
        break;
    }
    case failure::kind::timeout:
        out.response = response_error(id, error_object(f.code, f.message, json{{"status", f.http_status}}));
        if (!in_batch) out.http = json_reply(f.http_status, *out.response);
        break;
    case failure::kind::rate_limit:
        if (!in_batch) {
            out.http = http_failure_reply(f, request);
        } else {
            out.response = response_error(id, error_object(f.code, f.message, f.payload));
        }
        break;
    case failure::kind::tryton:
        out.response = response_error(id, error_object(f.code, f.message, f.payload));
        break;
    case failure::kind::not_found:
        out.response = response_error(id, error_object(f.code, "Method not found", request.method));
        break;
    case failure::kind::invalid_params:
        out.response = response_error(id, error_object(f.code, "Invalid params", f.message));
        break;
    case failure::kind::internal:
        out.response = response_error(id, error_object(f.code, "Internal error", f.payload));
        break;
    }
    return out;
}

rpc_http_reply jsonrpc_single(const json& body, const rpc_call_context& context, rpc_handler& handler,
                              const codec_options& options) {
    member_reply reply = jsonrpc_member(body, context, context.request_id, handler, options, false);
    if (reply.http) return std::move(*reply.http);
    if (!reply.response) return no_content();
    rpc_http_reply http = json_reply(200, *reply.response);
    if (reply.cache_seconds) http.headers.emplace_back("X-Tryton-Cache", std::to_string(*reply.cache_seconds));
    return http;
}

rpc_http_reply jsonrpc_batch(const json& body, const rpc_call_context& context, rpc_handler& handler,
                             const codec_options& options) {
    if (body.empty()) return json_reply(200, invalid_request(nullptr, "empty batch"));
    json responses = json::array();
    std::size_t index = 0;
    for (const auto& member : body) {
        ++index;
        member_reply reply =
            jsonrpc_member(member, context, context.request_id + "." + std::to_string(index), handler, options, true);
        if (reply.response) responses.push_back(std::move(*reply.response));
    }
    if (responses.empty()) return no_content();
    return json_reply(200, responses);
}

bool looks_like_jsonrpc2(std::string_view body) {
    const auto first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '[') return true;
    return body.find("\"jsonrpc\"") != std::string_view::npos;
}

bool has_exactly_envelope_keys(const json& body) {
    return body.size() == 3 && body.contains("id") && body.contains("method") && body.contains("params");
}

/// `text` with every byte outside printable ASCII written as JSON writes it
/// (\uXXXX for a code point, U+FFFD for invalid UTF-8): error bodies quote
/// client text, and stay ASCII whatever it held.
std::string ascii_text(std::string_view text) {
    const std::string quoted = dump_ascii(json(std::string(text)));
    std::string out;
    out.reserve(quoted.size());
    for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
        // Only \" and \\ go back to the character; the other escapes stay.
        if (quoted[i] == '\\' && (quoted[i + 1] == '"' || quoted[i + 1] == '\\') && i + 2 < quoted.size()) ++i;
        else if (quoted[i] == '\\' && i + 2 < quoted.size()) out.push_back(quoted[i++]);
        out.push_back(quoted[i]);
    }
    return out;
}

}  // namespace

rpc_http_reply plain_http_reply(int status, std::string_view message, const rpc_http_info& http,
                                std::optional<int> retry_after_seconds) {
    rpc_http_reply reply;
    reply.status = status;
    reply.content_type = "text/plain; charset=utf-8";
    reply.body = ascii_text(message);
    if (!reply.body.empty()) reply.body.push_back('\n');
    if (status == 401 && http.x_requested_with != "XMLHttpRequest") {
        reply.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Tryton\"");
    }
    if (retry_after_seconds) reply.headers.emplace_back("Retry-After", std::to_string(*retry_after_seconds));
    return reply;
}

rpc_http_reply handle_jsonrpc(std::string_view body, std::string_view content_type, const rpc_call_context& context,
                              rpc_handler& handler, const codec_options& options) {
    if (content_type.find("json") == std::string_view::npos) return plain_http_reply(400, "Not a JSON request");
    json parsed;
    try {
        // A large body is parsed on the worker pool: its thread's other fibers go on.
        constexpr std::size_t offload_size = 256 * 1024;
        parsed = body.size() < offload_size ? read_json(body) : run_blocking([&] { return read_json(body); });
    } catch (const json_read_error& e) {
        if (looks_like_jsonrpc2(body)) {
            return json_reply(200, response_error(nullptr, error_object(-32700, "Parse error", e.what())));
        }
        return plain_http_reply(400, "Unable to read JSON request");
    }
    if (parsed.is_array()) return jsonrpc_batch(parsed, context, handler, options);
    if (!parsed.is_object()) return plain_http_reply(400, "Unable to read JSON request: not a JSON-RPC object");
    if (parsed.contains("jsonrpc")) return jsonrpc_single(parsed, context, handler, options);
    if (has_exactly_envelope_keys(parsed)) {
        return tryton_call(parsed, context, handler, options, rpc_dialect::tryton_envelope);
    }
    if (parsed.contains("method")) return tryton_call(parsed, context, handler, options, rpc_dialect::tryton_bare);
    return plain_http_reply(400, "Unable to read JSON request: no \"method\"");
}

namespace {
/// Client-chosen text in a log line: control characters become '?' (no forged lines).
void append_printable(std::string& out, std::string_view text) {
    const std::size_t start = out.size();
    out.append(text.substr(0, 200));
    for (std::size_t i = start; i < out.size(); ++i) {
        if (static_cast<unsigned char>(out[i]) < 0x20 || out[i] == 0x7f) out[i] = '?';
    }
}

/// snprintf(buffer, 32, "%.1fms"), as the line always had: to_chars is exact
/// as glibc's printf is; what would not fit 31 characters goes to snprintf.
void append_duration(std::string& out, double ms) {
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + 29, ms, std::chars_format::fixed, 1);
    if (ec == std::errc()) {
        out.append(text, end).append("ms");
        return;
    }
    std::snprintf(text, sizeof text, "%.1fms", ms);
    out.append(text);
}
}  // namespace

std::string format_call_line(std::string_view request_id, std::string_view method,
                             const std::optional<std::string>& database, const rpc_call_notes& notes,
                             double duration_ms, std::string_view outcome) {
    std::string line;
    line.reserve(96 + std::min<std::size_t>(method.size(), 200));
    line.append("rpc ").append(request_id).push_back(' ');
    append_printable(line, method);
    line.append(" db=").append(database ? std::string_view(*database) : std::string_view("-"));
    line.append(" user=").append(notes.user.empty() ? std::string_view("-") : std::string_view(notes.user));
    line.push_back(' ');
    append_duration(line, duration_ms);
    line.append(" ").append(outcome);
    if (notes.retries > 0) line.append(" retries=").append(std::to_string(notes.retries));
    return line;
}

void log_finished_call(const rpc_request& request, const codec_options& options, double duration_ms,
                       std::string_view outcome) {
    if (options.slow_call_ms > 0 && duration_ms > options.slow_call_ms) {
        log_warning(slow_call_line(request, duration_ms, outcome));
    }
    if (options.log_call) {
        rpc_call_record record;
        record.request_id = request.request_id;
        record.method = request.method;
        record.database = request.database;
        record.notes = request.notes;
        record.duration_ms = duration_ms;
        record.outcome = std::string(outcome);
        options.log_call(record);
    } else if (log_json()) {
        log_info(json_call_line(request, duration_ms, outcome));
    } else {
        // The default line straight from the request: no record copies.
        log_info(format_call_line(request.request_id, request.method, request.database, request.notes, duration_ms,
                                  outcome));
    }
}

std::string format_call_record(const rpc_call_record& record) {
    return format_call_line(record.request_id, record.method, record.database, record.notes, record.duration_ms,
                            record.outcome);
}

}  // namespace atrium::server
