#pragma once
/// @file
/// @brief The transport's request rules that need no socket: routes (SPEC
/// §6.1), CORS origins (§8.1), Accept-Encoding.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::server {

/// A request path's database (SPEC §6.1): `/` ⇒ a match without database;
/// `/<db>/` and `/<db>/rpc/` ⇒ the (percent-decoded) name if it is made of
/// letters, digits, '_', '.', '-' and is not "." or ".."; `/<db>/bus` ⇒ that name
/// with `bus` set; anything else ⇒ nullopt (404).
/// The query string is ignored.
struct route_match {
    std::optional<std::string> database;
    bool bus = false;  ///< `/<db>/bus`: the Tryton bus (server/bus_route.hpp; 501 when bus.enabled is false)
};
std::optional<route_match> match_route(std::string_view target);

/// SPEC §8.1: may a request with this Origin be served? (Empty origin: yes;
/// "null": only when `allow_null`; an origin whose host:port differs from
/// `host` must be listed in `allowed`.)
bool origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed,
                    bool allow_null = false);

/// True if an Accept-Encoding header value accepts gzip (a q=0 refuses it).
bool accepts_gzip(std::string_view accept_encoding);

/// A header value without surrounding blanks, lower-cased: for comparing
/// case-insensitive tokens ("gzip", "100-continue").
std::string header_token(std::string_view value);

}  // namespace atrium::server
