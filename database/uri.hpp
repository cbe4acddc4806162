#pragma once
// The one splitter of the database URIs (`scheme://...`): the backends and
// their parameters parse what it splits. Nothing is decoded or validated here.

#include <functional>
#include <optional>
#include <string_view>

namespace atrium::db {

/// The parts of the text after "scheme://".
struct uri_parts {
    std::string_view userinfo;                 ///< before the authority's last '@' (empty: none)
    std::string_view user;                     ///< the userinfo up to its first ':'
    std::optional<std::string_view> password;  ///< after that ':', if there is one
    std::string_view host_port;                ///< the authority after the userinfo
    std::string_view path;                     ///< from the first '/' (included) to the query
    std::string_view query;                    ///< after the first '?' (empty: none)
};

/// Splits `rest`, the text after "scheme://", at the first '?', then the
/// first '/', then the authority's last '@' and the userinfo's first ':'.
uri_parts split_uri(std::string_view rest) noexcept;

/// The query of `rest` (after its first '?'; empty without one), and what
/// comes before it.
std::string_view query_of(std::string_view rest) noexcept;
std::string_view before_query(std::string_view rest) noexcept;

/// Calls `each(key, value)` for every non-empty `&`-separated item of a
/// query, in order; the value is what follows the first '=' (empty without
/// one). Neither is percent-decoded.
void for_each_query_parameter(std::string_view query,
                              const std::function<void(std::string_view key, std::string_view value)>& each);

}  // namespace atrium::db
