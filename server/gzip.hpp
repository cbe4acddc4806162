#pragma once
/// @file
/// @brief gzip for HTTP bodies (zlib): inflate with a cap on the output (a
/// small body may inflate to gigabytes), deflate for large responses.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

enum class inflate_status { ok, too_large, invalid };

/// Inflates the gzip stream `compressed` into `out`, failing with too_large as
/// soon as the output would exceed `max_size` bytes.
inflate_status gzip_inflate(std::string_view compressed, std::size_t max_size, std::string& out);

/// gzip-compresses `data` (zlib's default level).
std::string gzip_deflate(std::string_view data);

}  // namespace atrium::server
