#pragma once
// SPEC §7.1: the Authorization header of a request, parsed. Anything that is
// not exactly a well-formed Session or Basic credential counts as none.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace atrium::server {

/// `Session base64("<login>:<user_id>:<key>")`.
struct session_credentials {
    std::string login;
    std::int64_t user = 0;
    std::string key;
};

/// `Basic base64("<login>:<password>")`.
struct basic_credentials {
    std::string login;
    std::string password;
};

using credentials = std::variant<std::monostate, session_credentials, basic_credentials>;

credentials parse_authorization(std::string_view header);

}  // namespace atrium::server
