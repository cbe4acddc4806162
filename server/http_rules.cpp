#include "server/http_rules.hpp"

#include "util/percent.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cctype>

namespace atrium::server {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view text) { return util::trim(text, util::http_whitespace); }

}  // namespace

std::string header_token(std::string_view value) { return lower(trim(value)); }

namespace {

std::optional<std::string> percent_decode(std::string_view text) {
    auto decoded = util::percent_decode(text);
    if (decoded.error != util::percent_error::none) return std::nullopt;
    return std::move(decoded.text);
}

bool valid_database_name(std::string_view name) {
    if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '.' || c == '-';
    });
}

}  // namespace

std::optional<route_match> match_route(std::string_view target) {
    if (const auto query = target.find('?'); query != std::string_view::npos) target = target.substr(0, query);
    if (target == "/") return route_match{};
    if (target.size() > 5 && target.front() == '/' && target.substr(target.size() - 4) == "/bus") {  // "/<db>/bus" (no trailing '/')
        auto name = percent_decode(target.substr(1, target.size() - 5));
        if (!name || !valid_database_name(*name)) return std::nullopt;
        return route_match{std::move(*name), true};
    }
    if (target.size() < 3 || target.front() != '/' || target.back() != '/') return std::nullopt;
    auto inner = target.substr(1, target.size() - 2);  // "<db>" or "<db>/rpc"
    if (inner.size() > 4 && inner.substr(inner.size() - 4) == "/rpc") inner.remove_suffix(4);
    if (inner.find('/') != std::string_view::npos) return std::nullopt;
    auto name = percent_decode(inner);
    if (!name || !valid_database_name(*name)) return std::nullopt;
    return route_match{std::move(*name)};
}

bool origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed,
                    bool allow_null) {
    if (origin.empty()) return true;
    if (origin == "null") return allow_null;
    std::string_view origin_host = origin;
    if (const auto scheme = origin_host.find("://"); scheme != std::string_view::npos) origin_host.remove_prefix(scheme + 3);
    if (const auto slash = origin_host.find('/'); slash != std::string_view::npos) origin_host = origin_host.substr(0, slash);
    if (!host.empty() && lower(origin_host) == lower(host)) return true;
    return std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
}

bool accepts_gzip(std::string_view accept_encoding) {
    std::size_t pos = 0;
    while (pos <= accept_encoding.size()) {
        auto comma = accept_encoding.find(',', pos);
        if (comma == std::string_view::npos) comma = accept_encoding.size();
        auto item = trim(accept_encoding.substr(pos, comma - pos));
        pos = comma + 1;
        std::string_view params;
        if (const auto semi = item.find(';'); semi != std::string_view::npos) {
            params = trim(item.substr(semi + 1));
            item = trim(item.substr(0, semi));
        }
        const auto coding = lower(item);
        if (coding != "gzip" && coding != "x-gzip" && coding != "*") continue;
        const auto q = lower(params);
        if (q.rfind("q=", 0) == 0) {
            const auto number = q.substr(2);
            if (number.find_first_not_of("0.") == std::string::npos) return false;  // q=0, q=0.0
        }
        return true;
    }
    return false;
}

}  // namespace atrium::server
