#include "database/uri.hpp"

namespace atrium::db {

std::string_view query_of(std::string_view rest) noexcept {
    const auto q = rest.find('?');
    return q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);
}

std::string_view before_query(std::string_view rest) noexcept { return rest.substr(0, rest.find('?')); }

uri_parts split_uri(std::string_view rest) noexcept {
    uri_parts parts;
    parts.query = query_of(rest);
    rest = before_query(rest);
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        parts.path = rest.substr(slash);
        rest = rest.substr(0, slash);
    }
    parts.host_port = rest;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        parts.userinfo = rest.substr(0, at);
        parts.host_port = rest.substr(at + 1);
    }
    parts.user = parts.userinfo;
    if (auto colon = parts.userinfo.find(':'); colon != std::string_view::npos) {
        parts.user = parts.userinfo.substr(0, colon);
        parts.password = parts.userinfo.substr(colon + 1);
    }
    return parts;
}

void for_each_query_parameter(std::string_view query,
                              const std::function<void(std::string_view key, std::string_view value)>& each) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        const auto eq = item.find('=');
        each(item.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
    }
}

}  // namespace atrium::db
