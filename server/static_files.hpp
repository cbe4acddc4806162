#pragma once
/// @file
/// @brief The web client's static files (trytond's `[web] root`): GET and HEAD
/// map the request path under `web.root` (a directory answers its
/// index.html), with content types by extension, ETag / Last-Modified and
/// their 304s, Cache-Control, and gzip variants kept beside the file in a
/// small cache. Paths never leave the root: `..`, encoded slashes, NUL,
/// dotfiles and symlinks resolving outside are refused (404, no listing).
/// The socket side is in static_http.hpp.

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace atrium::server {

/// What a static request gets: the status, the headers, the body (empty for
/// HEAD and 304; `length` is then the Content-Length HEAD announces).
struct static_reply {
    int status = 404;
    std::vector<std::pair<std::string, std::string>> headers;  ///< Content-Type included
    std::shared_ptr<const std::string> body;                   ///< nullptr: no body
    std::size_t length = 0;                                    ///< Content-Length
};

/// The request headers a static lookup reads.
struct static_request {
    std::string_view target;  ///< as received ("/dist/x.js?v=1")
    bool head = false;
    std::string_view if_none_match;
    std::string_view if_modified_since;
    bool accepts_gzip = false;
};

/// Files larger than this are not served (the web client's largest is ~2 MB).
constexpr std::uint64_t static_max_file_size = 32ull * 1024 * 1024;
/// Bytes the cache keeps at most (plain and gzip variants together).
constexpr std::uint64_t static_cache_capacity = 64ull * 1024 * 1024;

/// The Content-Type for a file name, by its extension.
std::string_view static_content_type(std::string_view file_name);

/// `t` as an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date(std::time_t t);
/// Parses an HTTP date (IMF-fixdate); nullopt when malformed.
std::optional<std::time_t> parse_http_date(std::string_view text);

/// The path segments of a request target, decoded, or nullopt when the target
/// could escape or is malformed (`..`, `%2f`, `\`, NUL, dotfiles, bad %xx).
std::optional<std::vector<std::string>> static_path_segments(std::string_view target);

class static_files {
public:
    /// `root` empty: disabled. A root that is not a directory disables too
    /// (the default names Debian's sao, which may not be installed).
    explicit static_files(const std::string& root, int cache_timeout = 43200);

    bool enabled() const { return !root_.empty(); }
    const std::string& root() const { return root_; }

    /// Answers one GET/HEAD. Blocking file-system work (read, gzip) happens
    /// on a cache miss only; callers on a fiber wrap it in run_blocking.
    static_reply serve(const static_request& request);

private:
    struct entry;
    std::shared_ptr<const entry> load(const std::string& path, int fd, std::uint64_t size, std::int64_t mtime_ns,
                                      std::uint64_t inode);

    std::string root_;  ///< canonical, without a trailing '/' (empty: disabled)
    int cache_timeout_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<const entry>> cache_;
    std::uint64_t cached_bytes_ = 0;
};

}  // namespace atrium::server
