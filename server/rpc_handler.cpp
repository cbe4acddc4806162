#include "server/rpc_handler.hpp"

#include "server/dispatch/authorization.hpp"

#include <variant>

namespace atrium::server {

bool syntactically_authenticated(std::string_view authorization) {
    return !std::holds_alternative<std::monostate>(parse_authorization(authorization));
}

bool rpc_handler::authenticated_for_limits(const std::optional<std::string>&, const rpc_http_info&) { return false; }

bus_subscriber rpc_handler::subscriber_for_bus(const std::string&, const rpc_http_info&) {
    throw http_error(501, "Not implemented: no bus");
}

rpc_result builtin_handler::handle(const rpc_request& request) {
    // SPEC §6.1: the server-level methods live on "/" only.
    if (!request.database && request.method == "common.server.version") return {nlohmann::json(version_), std::nullopt};
    throw method_not_found(request.method);
}

}  // namespace atrium::server
