// open_backend(): the database backend chosen by URI scheme.

#include "database/database.hpp"
#include "database/sqlite/sqlite_backend.hpp"

#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>

namespace atrium::db {

std::unique_ptr<backend> open_backend(std::string_view uri, wait_hooks hooks) {
    const auto sep = uri.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        throw std::invalid_argument(
            "database URI \"" + std::string(uri) +
            "\" has no scheme; expected sqlite:///path/to/dir or sqlite://:memory:");
    }
    std::string scheme(uri.substr(0, sep));
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string_view rest = uri.substr(sep + 3);

    if (scheme == "sqlite") return sqlite_backend::from_uri_rest(rest, std::move(hooks));
    if (scheme == "postgresql" || scheme == "postgres") {
        // The URI is not echoed: it may carry a password.
        throw std::invalid_argument(
            "the PostgreSQL backend is not built yet (database URI scheme \"" + scheme +
            "\"); use sqlite:///path/to/dir for now");
    }
    throw std::invalid_argument("unknown database URI scheme \"" + scheme +
                                "\"; supported: sqlite (postgresql is not built yet)");
}

}  // namespace atrium::db
