// open_backend(): the database backend chosen by URI scheme.

#include "database/database.hpp"
#include "database/postgresql/pg_backend.hpp"
#include "database/sqlite/sqlite_backend.hpp"

#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>

namespace atrium::db {

std::unique_ptr<backend> open_backend(std::string_view uri, wait_hooks hooks) {
    const auto sep = uri.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        // Not echoed if it may hold a password (user:password@host).
        const bool may_hold_secret = uri.find('@') != std::string_view::npos;
        throw std::invalid_argument(
            "database URI " + (may_hold_secret ? std::string("(not shown)") : "\"" + std::string(uri) + "\"") +
            " has no scheme; expected sqlite:///path/to/dir, sqlite://:memory: or "
            "postgresql://user:password@host:port/");
    }
    std::string scheme(uri.substr(0, sep));
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view rest = uri.substr(sep + 3);

    if (scheme == "sqlite") return sqlite_backend::from_uri_rest(rest, std::move(hooks));
    if (scheme == "postgresql" || scheme == "postgres") {
        return pg_backend::from_uri_rest(rest, std::move(hooks));
    }
    throw std::invalid_argument("unknown database URI scheme \"" + scheme +
                                "\"; supported: sqlite, postgresql");
}

}  // namespace atrium::db
