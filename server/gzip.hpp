#pragma once
/// @file
/// @brief gzip for HTTP bodies (zlib): inflate with a cap on the output (a
/// small body may inflate to gigabytes), deflate for large responses.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

enum class inflate_status { ok, too_large, invalid };

/// Inflates the gzip stream `compressed` into `out`, failing with too_large as
/// soon as the output would exceed `max_size` bytes.
inflate_status gzip_inflate(std::string_view compressed, std::size_t max_size, std::string& out);

/// The same in steps, so that a caller can let other work run between them (a
/// large body must not hold its thread for seconds): each step() appends at
/// most `step_output` bytes to `out` and stops at once when the total would
/// pass `max_size`, before anything beyond the cap is kept.
class gzip_inflater {
public:
    /// `compressed` must outlive the inflater.
    gzip_inflater(std::string_view compressed, std::size_t max_size);
    ~gzip_inflater();
    gzip_inflater(const gzip_inflater&) = delete;
    gzip_inflater& operator=(const gzip_inflater&) = delete;

    /// nullopt: more to do; otherwise the outcome (repeated by later calls).
    std::optional<inflate_status> step(std::string& out, std::size_t step_output = 256 * 1024);

private:
    struct state;
    std::unique_ptr<state> state_;
    std::size_t max_size_;
    std::optional<inflate_status> done_;
};

/// gzip-compresses `data` (zlib's default level).
std::string gzip_deflate(std::string_view data);

}  // namespace atrium::server
