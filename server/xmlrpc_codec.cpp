#include "server/xmlrpc_codec.hpp"
// Fiber paths: every catch (...) here lets a fiber's forced_unwind through
// first (fiber::rethrow_if_unwinding()).

#include "fiber/unwind.hpp"
#include "server/call_deadline.hpp"
#include "server/jsonrpc_values.hpp"
#include "server/ops_metrics.hpp"
#include "server/worker_pool.hpp"
#include "server/xmlrpc_values.hpp"
#include "transaction/logging.hpp"
#include "util/error.hpp"

#include <chrono>
#include <exception>
#include <optional>

namespace atrium::server {

namespace {

using json = nlohmann::json;

/// trytond's fault codes: TrytonException.code, 255 for any other exception.
namespace tryton_code {
constexpr int user_error = 1;
constexpr int user_warning = 2;
constexpr int login_exception = 3;
constexpr int concurrency_exception = 4;
constexpr int other = 255;
}  // namespace tryton_code

rpc_http_reply xml_reply(std::string body) {
    rpc_http_reply reply;
    reply.content_type = "text/xml";  // as trytond sends it (UTF-8, the XML default)
    reply.body = std::move(body);
    return reply;
}

rpc_http_reply fault_reply(int code, std::string_view text) { return xml_reply(xmlrpc_fault(code, text)); }

/// Python's repr() of a str, as str(exception) shows the strings in its args.
std::string python_repr(std::string_view text) {
    const bool double_quoted = text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos;
    const char quote = double_quoted ? '"' : '\'';
    std::string out(1, quote);
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') out.push_back('\\'), out.push_back(c);
        else if (c == '\n') out.append("\\n");
        else if (c == '\r') out.append("\\r");
        else if (c == '\t') out.append("\\t");
        else if (byte < 0x20 || byte == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out.append("\\x").push_back(hex[byte >> 4]);
            out.push_back(hex[byte & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back(quote);
    return out;
}

std::string text_at(const json& array, std::size_t index) {
    if (!array.is_array() || index >= array.size() || !array[index].is_string()) return {};
    return array[index].get<std::string>();
}

/// The fault trytond's XMLProtocol makes of a Tryton exception: (code, str(exception)).
std::optional<std::pair<int, std::string>> tryton_fault(const error& e) {
    const json payload = e.payload();
    const json& args = payload.is_array() && payload.size() == 2 ? payload[1] : json();
    switch (e.category()) {
    case error_category::user:
    case error_category::access:
        if (text_at(payload, 0) != "UserError") return std::nullopt;
        return std::pair{tryton_code::user_error, text_at(args, 0) + " - " + text_at(args, 1)};
    case error_category::user_warning:
        return std::pair{tryton_code::user_warning, text_at(args, 1) + " - " + text_at(args, 2)};
    case error_category::login:
        return std::pair{tryton_code::login_exception, "('LoginException', (" + python_repr(text_at(args, 0)) + ", " +
                                                           python_repr(text_at(args, 1)) + ", " +
                                                           python_repr(text_at(args, 2)) + "))"};
    case error_category::concurrency:
        return std::pair{tryton_code::concurrency_exception, std::string(e.what())};
    default:
        return std::nullopt;
    }
}

struct outcome {
    rpc_http_reply reply;
    std::string log;  ///< "ok" or the kind of failure
};

outcome internal_failure(const std::exception_ptr& error, const rpc_request& request, const codec_options& options) {
    const std::string description = describe_exception(error);
    // The whole story goes to the log only; the client sees it in dev mode.
    log_error("rpc " + request.request_id + " " + request.method + " failed: " + description);
    return {fault_reply(tryton_code::other,
                        options.dev ? description : "Internal error (request " + request.request_id + ")"),
            "internal error"};
}

outcome failure_reply(const std::exception_ptr& failure, const rpc_request& request, const codec_options& options) {
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        const wire_shape wire = e.wire();
        switch (e.category()) {
        case error_category::http:
        case error_category::rate_limited:
            // HTTP-level answers stay HTTP answers: xmlrpc.client raises ProtocolError.
            return {plain_http_reply(wire.http_status, e.what(), request.http, wire.retry_after),
                    "HTTP " + std::to_string(wire.http_status)};
        case error_category::timeout:
            // The call's deadline passed: rolled back, 408 as the Tryton dialect answers it.
            // A database's own timeout reaching here unconverted stays an internal error.
            if (!dynamic_cast<const call_timeout_error*>(&e)) return internal_failure(failure, request, options);
            return {plain_http_reply(wire.http_status, e.what(), request.http), "timeout"};
        case error_category::not_found:
            if (request.database) {
                return {plain_http_reply(403, "Method not found: " + request.method, request.http), "method not found"};
            }
            return {fault_reply(tryton_code::other, "'" + request.method + "'"), "method not found"};
        case error_category::invalid_argument:
            return {fault_reply(tryton_code::other, e.what()), "invalid params"};
        case error_category::user:
        case error_category::user_warning:
        case error_category::access:
        case error_category::login:
        case error_category::concurrency:
            if (auto fault = tryton_fault(e)) return {fault_reply(fault->first, fault->second), wire.name};
            return {fault_reply(tryton_code::other, e.what()), wire.name};
        default:
            return internal_failure(failure, request, options);
        }
    } catch (...) {
        fiber::rethrow_if_unwinding();
        return internal_failure(failure, request, options);
    }
}

outcome run_call(const rpc_request& request, rpc_handler& handler, const codec_options& options) {
    try {
        rpc_result result = handler.handle(request);
        outcome done{xml_reply(xmlrpc_response(result.value)), "ok"};
        if (result.cache_seconds) {
            done.reply.headers.emplace_back("X-Tryton-Cache", std::to_string(*result.cache_seconds));
        }
        return done;
    } catch (...) {
        fiber::rethrow_if_unwinding();
        return failure_reply(std::current_exception(), request, options);
    }
}

/// The outcome /metrics counts (atrium_rpc_calls_total), from the reply made.
ops::call_outcome xmlrpc_metrics_outcome(const outcome& done) {
    if (done.log == "ok") return ops::call_outcome::ok;
    if (done.log == "timeout") return ops::call_outcome::timeout;
    if (done.log == "internal error") return ops::call_outcome::internal;
    if (done.log == "method not found") return ops::call_outcome::not_found;
    if (done.log == "invalid params") return ops::call_outcome::invalid_params;
    if (done.reply.status == 429) return ops::call_outcome::rate_limited;
    if (done.reply.status == 503) return ops::call_outcome::unavailable;
    if (done.log.rfind("HTTP ", 0) == 0) return ops::call_outcome::http_error;
    return ops::call_outcome::user_error;
}

bool contains_ignoring_case(std::string_view text, std::string_view word) {
    for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
        bool match = true;
        for (std::size_t k = 0; k < word.size() && match; ++k) match = (text[i + k] | 0x20) == word[k];
        if (match) return true;
    }
    return false;
}

}  // namespace

bool is_xmlrpc_content_type(std::string_view content_type) {
    return !contains_ignoring_case(content_type, "json") && contains_ignoring_case(content_type, "xml");
}

rpc_http_reply handle_xmlrpc(std::string_view body, const rpc_call_context& context, rpc_handler& handler,
                             const codec_options& options) {
    xmlrpc_call call;
    try {
        // A large body is parsed on the worker pool: its thread's other fibers go on.
        constexpr std::size_t offload_size = 256 * 1024;
        call = body.size() < offload_size ? read_xmlrpc_call(body) : run_blocking([&] { return read_xmlrpc_call(body); });
        validate_special_values(call.params);
    } catch (const xmlrpc_read_error& e) {
        return fault_reply(e.fault_code(), std::string("Unable to read XML request: ") + e.what());
    } catch (const special_value_error& e) {
        return fault_reply(xmlrpc_fault_code::invalid_params, std::string("Unable to read XML request: ") + e.what());
    }
    rpc_request request;
    request.database = context.database;
    request.http = context.http;
    request.request_id = context.request_id;
    request.dialect = rpc_dialect::tryton_envelope;  // Tryton's rules: authentication before method lookup
    request.method = std::move(call.method);
    request.params = std::move(call.params);
    const auto start = std::chrono::steady_clock::now();
    outcome done = run_call(request, handler, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ops::record_call(request.method, xmlrpc_metrics_outcome(done), seconds);
    log_finished_call(request, options, seconds * 1000.0, done.log);
    return std::move(done.reply);
}

}  // namespace atrium::server
