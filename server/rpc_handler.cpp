#include "server/rpc_handler.hpp"

#include "server/base64.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace atrium::server {

namespace {

/// The credentials after "<scheme> " when the header uses that scheme (case-insensitive).
std::optional<std::string_view> credentials(std::string_view header, std::string_view scheme) {
    if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(scheme[i]))) {
            return std::nullopt;
        }
    }
    auto rest = header.substr(scheme.size() + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    return rest;
}

bool valid_session(std::string_view decoded) {
    const auto first = decoded.find(':');
    if (first == std::string_view::npos) return false;
    const auto second = decoded.find(':', first + 1);
    if (second == std::string_view::npos) return false;
    const auto key = decoded.substr(second + 1);
    if (key.find(':') != std::string_view::npos) return false;
    const auto user_id = decoded.substr(first + 1, second - first - 1);
    long long value = 0;
    const auto [ptr, ec] = std::from_chars(user_id.data(), user_id.data() + user_id.size(), value);
    return !user_id.empty() && ec == std::errc() && ptr == user_id.data() + user_id.size();
}

}  // namespace

bool syntactically_authenticated(std::string_view authorization) {
    if (const auto session = credentials(authorization, "Session")) {
        const auto decoded = base64_decode(*session);
        return decoded && valid_session(*decoded);
    }
    if (const auto basic = credentials(authorization, "Basic")) {
        const auto decoded = base64_decode(*basic);
        return decoded && decoded->find(':') != std::string::npos;
    }
    return false;
}

bool rpc_handler::authenticated_for_limits(const rpc_http_info& http) const {
    return syntactically_authenticated(http.authorization);
}

rpc_result builtin_handler::handle(const rpc_request& request) {
    // SPEC §6.1: the server-level methods live on "/" only.
    if (!request.database && request.method == "common.server.version") return {nlohmann::json(version_), std::nullopt};
    throw method_not_found(request.method);
}

}  // namespace atrium::server
