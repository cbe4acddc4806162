#include "server/static_files.hpp"

#include "server/gzip.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <locale>
#include <sstream>

namespace atrium::server {

namespace fs = std::filesystem;

/// One file as read: its identity (to notice a change), both variants, the tags.
struct static_files::entry {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::time_t mtime = 0;
    std::string content_type;
    std::string etag;     ///< quoted
    std::string etag_gz;  ///< quoted, for the gzip variant
    std::shared_ptr<const std::string> plain;
    std::shared_ptr<const std::string> gzipped;  ///< nullptr: not worth it
    std::uint64_t bytes() const { return plain->size() + (gzipped ? gzipped->size() : 0); }
};

namespace {

/// Below this, gzip saves less than a packet.
constexpr std::size_t gzip_minimum = 1024;

struct extension_type {
    std::string_view extension;
    std::string_view type;
    bool compressible;
};

constexpr std::array<extension_type, 26> extension_types{{
    {"html", "text/html; charset=utf-8", true},
    {"htm", "text/html; charset=utf-8", true},
    {"js", "text/javascript; charset=utf-8", true},
    {"mjs", "text/javascript; charset=utf-8", true},
    {"css", "text/css; charset=utf-8", true},
    {"json", "application/json; charset=utf-8", true},
    {"map", "application/json; charset=utf-8", true},
    {"svg", "image/svg+xml", true},
    {"xml", "application/xml", true},
    {"txt", "text/plain; charset=utf-8", true},
    {"po", "text/plain; charset=utf-8", true},
    {"png", "image/png", false},
    {"jpg", "image/jpeg", false},
    {"jpeg", "image/jpeg", false},
    {"gif", "image/gif", false},
    {"webp", "image/webp", false},
    {"ico", "image/vnd.microsoft.icon", true},
    {"woff", "font/woff", false},
    {"woff2", "font/woff2", false},
    {"ttf", "font/ttf", true},
    {"otf", "font/otf", true},
    {"eot", "application/vnd.ms-fontobject", true},
    {"pdf", "application/pdf", false},
    {"wasm", "application/wasm", true},
    {"md", "text/markdown; charset=utf-8", true},
    {"csv", "text/csv; charset=utf-8", true},
}};

const extension_type* find_extension(std::string_view file_name) {
    const auto dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return nullptr;
    std::string extension(file_name.substr(dot + 1));
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const auto& known : extension_types) {
        if (known.extension == extension) return &known;
    }
    return nullptr;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// FNV-1a: the ETag names the content, not the path or the time.
std::string content_tag(std::string_view data) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (unsigned char c : data) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    char text[40];
    std::snprintf(text, sizeof text, "%016llx-%llx", static_cast<unsigned long long>(hash),
                  static_cast<unsigned long long>(data.size()));
    return text;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

/// If-None-Match: "*" or a list of tags, weak or strong (weak comparison).
bool tag_matches(std::string_view header, const std::string& etag, const std::string& etag_gz) {
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view tag = trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
        if (tag == "*") return true;
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        if (tag == etag || tag == etag_gz) return true;
    }
    return false;
}

/// Closes the descriptor whatever happens.
struct file_descriptor {
    int fd = -1;
    ~file_descriptor() {
        if (fd >= 0) ::close(fd);
    }
};

bool inside(const std::string& path, const std::string& root) {
    return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                            path[root.size()] == '/');
}

/// The canonical form of `path` (symlinks resolved), or empty.
std::string canonical_or_empty(const fs::path& path) {
    std::error_code ec;
    auto resolved = fs::weakly_canonical(path, ec);
    if (ec) return {};
    return resolved.string();
}

}  // namespace

std::string_view static_content_type(std::string_view file_name) {
    const auto* known = find_extension(file_name);
    return known ? known->type : std::string_view("application/octet-stream");
}

std::string http_date(std::time_t t) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[40];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return text;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
    text = trim(text);
    if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
    std::istringstream in{std::string(text)};
    in.imbue(std::locale::classic());  // English day and month names whatever the process locale
    std::tm tm{};
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S");
    if (in.fail()) return std::nullopt;
    return timegm(&tm);
}

std::optional<std::vector<std::string>> static_path_segments(std::string_view target) {
    if (target.empty() || target.front() != '/') return std::nullopt;  // absolute-form, '*'…
    target = target.substr(0, target.find_first_of("?#"));
    std::vector<std::string> segments;
    std::string segment;
    auto finish = [&]() -> bool {
        if (segment.empty() || segment == ".") {
            segment.clear();
            return true;
        }
        if (segment.front() == '.') return false;  // "..", dotfiles (.git, .htaccess)
        segments.push_back(std::move(segment));
        segment.clear();
        return true;
    };
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (c == '/') {
            if (!finish()) return std::nullopt;
            continue;
        }
        if (c == '%') {
            if (i + 2 >= target.size()) return std::nullopt;
            const int high = hex_value(target[i + 1]);
            const int low = hex_value(target[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            c = static_cast<char>(high * 16 + low);
            i += 2;
            if (c == '/') return std::nullopt;  // an encoded slash is no separator here
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') return std::nullopt;
        segment += c;
    }
    if (!finish()) return std::nullopt;
    return segments;
}

static_files::static_files(const std::string& root, int cache_timeout) : cache_timeout_(cache_timeout) {
    if (root.empty()) return;
    std::error_code ec;
    const auto resolved = fs::canonical(root, ec);
    if (ec || !fs::is_directory(resolved, ec)) return;
    root_ = resolved.string();
    if (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::shared_ptr<const static_files::entry> static_files::load(const std::string& path, int fd, std::uint64_t size,
                                                              std::int64_t mtime_ns, std::uint64_t inode) {
    {
        std::lock_guard lock(mutex_);
        auto found = cache_.find(path);
        if (found != cache_.end() && found->second->size == size && found->second->mtime_ns == mtime_ns &&
            found->second->inode == inode) {
            return found->second;
        }
    }
    auto fresh = std::make_shared<entry>();
    fresh->size = size;
    fresh->mtime_ns = mtime_ns;
    fresh->inode = inode;
    fresh->mtime = static_cast<std::time_t>(mtime_ns / 1000000000);
    std::string data(size, '\0');
    std::size_t done = 0;
    while (done < size) {
        const auto n = ::read(fd, data.data() + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return nullptr;  // truncated while read: served next time
        done += static_cast<std::size_t>(n);
    }
    const auto* known = find_extension(path);
    fresh->content_type = known ? known->type : "application/octet-stream";
    const std::string tag = content_tag(data);
    fresh->etag = "\"" + tag + "\"";
    fresh->etag_gz = "\"" + tag + "-gz\"";
    if (known && known->compressible && size >= gzip_minimum) {
        auto compressed = gzip_deflate(data);
        if (compressed.size() < size) fresh->gzipped = std::make_shared<const std::string>(std::move(compressed));
    }
    fresh->plain = std::make_shared<const std::string>(std::move(data));
    std::lock_guard lock(mutex_);
    auto& slot = cache_[path];
    const std::uint64_t replaced = slot ? slot->bytes() : 0;
    if (cached_bytes_ - replaced + fresh->bytes() <= static_cache_capacity) {
        cached_bytes_ = cached_bytes_ - replaced + fresh->bytes();
        slot = fresh;
    } else if (!slot) {
        cache_.erase(path);  // full: served uncached
    }
    return fresh;
}

static_reply static_files::serve(const static_request& request) {
    static_reply reply;
    reply.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    auto not_found = [&] {
        static const auto text = std::make_shared<const std::string>("Not found");
        reply.status = 404;
        reply.length = text->size();
        if (!request.head) reply.body = text;
        return reply;
    };
    if (!enabled()) return not_found();
    const auto segments = static_path_segments(request.target);
    if (!segments) return not_found();
    fs::path path(root_);
    for (const auto& segment : *segments) path /= segment;
    std::string resolved = canonical_or_empty(path);
    if (resolved.empty() || !inside(resolved, root_)) return not_found();
    std::error_code ec;
    const auto path_part = request.target.substr(0, request.target.find_first_of("?#"));
    if (fs::is_directory(resolved, ec)) {
        resolved = canonical_or_empty(fs::path(resolved) / "index.html");
        if (resolved.empty() || !inside(resolved, root_)) return not_found();
    } else if (path_part.back() == '/') {
        return not_found();  // "/app.js/" names no directory
    }
    file_descriptor file;
    file.fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (file.fd < 0) return not_found();
    struct stat info {};
    if (::fstat(file.fd, &info) != 0 || !S_ISREG(info.st_mode)) return not_found();
    const auto size = static_cast<std::uint64_t>(info.st_size);
    if (size > static_max_file_size) return not_found();
    const std::int64_t mtime_ns =
        static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + static_cast<std::int64_t>(info.st_mtim.tv_nsec);
    const auto found = load(resolved, file.fd, size, mtime_ns, static_cast<std::uint64_t>(info.st_ino));
    if (!found) return not_found();

    const bool gzip = request.accepts_gzip && found->gzipped;
    reply.headers.clear();
    reply.headers.emplace_back("ETag", gzip ? found->etag_gz : found->etag);
    reply.headers.emplace_back("Last-Modified", http_date(found->mtime));
    reply.headers.emplace_back("Cache-Control", "max-age=" + std::to_string(cache_timeout_) + ", public");
    if (found->gzipped) reply.headers.emplace_back("Vary", "Accept-Encoding");
    bool not_modified = false;
    if (!request.if_none_match.empty()) {
        not_modified = tag_matches(request.if_none_match, found->etag, found->etag_gz);
    } else if (!request.if_modified_since.empty()) {
        const auto since = parse_http_date(request.if_modified_since);
        not_modified = since && found->mtime <= *since;
    }
    if (not_modified) {
        reply.status = 304;
        return reply;
    }
    reply.status = 200;
    reply.headers.emplace_back("Content-Type", found->content_type);
    reply.headers.emplace_back("X-Content-Type-Options", "nosniff");
    if (gzip) reply.headers.emplace_back("Content-Encoding", "gzip");
    const auto& body = gzip ? found->gzipped : found->plain;
    reply.length = body->size();
    if (!request.head) reply.body = body;
    return reply;
}

}  // namespace atrium::server
