#include "server/gzip.hpp"

#include <zlib.h>

#include <stdexcept>

namespace atrium::server {

namespace {

constexpr int gzip_window_bits = 15 + 16;  // 32 KiB window, gzip wrapper
constexpr std::size_t chunk_size = 64 * 1024;

}  // namespace

inflate_status gzip_inflate(std::string_view compressed, std::size_t max_size, std::string& out) {
    out.clear();
    z_stream stream{};
    if (inflateInit2(&stream, gzip_window_bits) != Z_OK) return inflate_status::invalid;
    struct ender {
        z_stream& s;
        ~ender() { inflateEnd(&s); }
    } end_on_exit{stream};
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    stream.avail_in = static_cast<uInt>(compressed.size());
    if (compressed.size() != stream.avail_in) return inflate_status::too_large;  // > 4 GiB input
    char buffer[chunk_size];
    for (;;) {
        stream.next_out = reinterpret_cast<Bytef*>(buffer);
        stream.avail_out = sizeof buffer;
        const int rc = inflate(&stream, Z_NO_FLUSH);
        const std::size_t produced = sizeof buffer - stream.avail_out;
        if (out.size() + produced > max_size) return inflate_status::too_large;
        out.append(buffer, produced);
        if (rc == Z_STREAM_END) return stream.avail_in == 0 ? inflate_status::ok : inflate_status::invalid;
        if (rc != Z_OK) return inflate_status::invalid;
        if (produced == 0 && stream.avail_in == 0) return inflate_status::invalid;  // truncated
    }
}

std::string gzip_deflate(std::string_view data) {
    z_stream stream{};
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip_window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("gzip: deflateInit2 failed");
    }
    struct ender {
        z_stream& s;
        ~ender() { deflateEnd(&s); }
    } end_on_exit{stream};
    std::string out;
    out.resize(deflateBound(&stream, static_cast<uLong>(data.size())));
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    if (deflate(&stream, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
    out.resize(stream.total_out);
    return out;
}

}  // namespace atrium::server
