#pragma once
/// @file
/// @brief The XML-RPC codec (Tryton's dialect, what proteus speaks): one HTTP
/// request body in, one HTTP reply out, one rpc_handler call, on the same
/// routes as JSON-RPC. The transport picks it by Content-Type as trytond does.
///
/// Outcomes, as trytond 6.0 answers them:
/// | thrown | reply |
/// | --- | --- |
/// | (none) | 200, the result in a methodResponse (X-Tryton-Cache when cached) |
/// | `user_error` / `access_error` | fault 1, "<message> - <description>" |
/// | `user_warning` | fault 2, "<message> - <description>" |
/// | `login_exception` | fault 3, Python's str() of the exception's args |
/// | `concurrency_exception` | fault 4, the message |
/// | `http_error`, `service_unavailable`, `rate_limit_exception` | that HTTP status, plain text (as in JSON-RPC) |
/// | `method_not_found` | under a database: HTTP 403; on `/`: fault 255, "'<method>'" |
/// | bad arguments, other Tryton errors | fault 255, the message |
/// | anything else | fault 255, "Internal error (request <id>)" (the description with --dev) |
///
/// A body that is not an acceptable XML-RPC call (not well-formed, invalid
/// UTF-8, a DOCTYPE, too deep, bad special values) is answered with a fault
/// too, "Unable to read XML request: <why>", with the interoperability codes
/// of xmlrpc_values.hpp (trytond answers HTTP 400; a fault is what an XML-RPC
/// client can show). No call is made for it.

#include "server/jsonrpc_codec.hpp"

#include <string_view>

namespace atrium::server {

/// trytond's choice: a Content-Type naming "json" is JSON-RPC; otherwise one
/// naming "xml" (text/xml, application/xml) is XML-RPC.
bool is_xmlrpc_content_type(std::string_view content_type);

/// Decodes `body`, calls `handler` once and encodes the reply. Never throws
/// for bad input (boost's forced_unwind is rethrown).
rpc_http_reply handle_xmlrpc(std::string_view body, const rpc_call_context& context, rpc_handler& handler,
                             const codec_options& options = {});

}  // namespace atrium::server
