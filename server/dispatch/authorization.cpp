#include "server/dispatch/authorization.hpp"

#include "util/base64.hpp"
#include "util/text.hpp"

#include <charconv>

namespace atrium::server {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
    return true;
}

}  // namespace

credentials parse_authorization(std::string_view header) {
    header = util::trim(header, util::http_whitespace);
    auto space = header.find(' ');
    if (space == std::string_view::npos) return {};
    auto scheme = header.substr(0, space);
    auto decoded = util::base64_decode(util::trim(header.substr(space + 1), util::http_whitespace));
    if (!decoded) return {};
    const std::string& text = *decoded;

    if (iequals(scheme, "Session")) {
        auto first = text.find(':');
        if (first == std::string::npos) return {};
        auto second = text.find(':', first + 1);
        if (second == std::string::npos || text.find(':', second + 1) != std::string::npos) return {};
        session_credentials s;
        s.login = text.substr(0, first);
        auto id_text = std::string_view(text).substr(first + 1, second - first - 1);
        auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), s.user);
        if (ec != std::errc() || ptr != id_text.data() + id_text.size() || id_text.empty()) return {};
        s.key = text.substr(second + 1);
        if (s.key.empty()) return {};
        return s;
    }
    if (iequals(scheme, "Basic")) {
        auto colon = text.find(':');
        if (colon == std::string::npos) return {};
        return basic_credentials{text.substr(0, colon), text.substr(colon + 1)};
    }
    return {};
}

}  // namespace atrium::server
