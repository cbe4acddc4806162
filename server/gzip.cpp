#include "server/gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

namespace atrium::server {

namespace {

constexpr int gzip_window_bits = 15 + 16;  // 32 KiB window, gzip wrapper
constexpr std::size_t chunk_size = 64 * 1024;

}  // namespace

struct gzip_inflater::state {
    z_stream stream{};
    bool initialised = false;
    ~state() {
        if (initialised) inflateEnd(&stream);
    }
};

gzip_inflater::gzip_inflater(std::string_view compressed, std::size_t max_size)
    : state_(std::make_unique<state>()), max_size_(max_size) {
    if (inflateInit2(&state_->stream, gzip_window_bits) != Z_OK) {
        done_ = inflate_status::invalid;
        return;
    }
    state_->initialised = true;
    state_->stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    state_->stream.avail_in = static_cast<uInt>(compressed.size());
    if (compressed.size() != state_->stream.avail_in) done_ = inflate_status::too_large;  // > 4 GiB input
}

gzip_inflater::~gzip_inflater() = default;

std::optional<inflate_status> gzip_inflater::step(std::string& out, std::size_t step_output) {
    if (done_) return done_;
    z_stream& stream = state_->stream;
    char buffer[chunk_size];
    std::size_t produced_here = 0;
    while (produced_here < std::max<std::size_t>(step_output, 1)) {
        stream.next_out = reinterpret_cast<Bytef*>(buffer);
        stream.avail_out = sizeof buffer;
        const int rc = inflate(&stream, Z_NO_FLUSH);
        const std::size_t produced = sizeof buffer - stream.avail_out;
        // Checked before appending: nothing beyond the cap is ever kept.
        if (out.size() + produced > max_size_) return done_ = inflate_status::too_large;
        out.append(buffer, produced);
        produced_here += produced;
        if (rc == Z_STREAM_END) return done_ = stream.avail_in == 0 ? inflate_status::ok : inflate_status::invalid;
        if (rc != Z_OK) return done_ = inflate_status::invalid;
        if (produced == 0 && stream.avail_in == 0) return done_ = inflate_status::invalid;  // truncated
    }
    return std::nullopt;
}

inflate_status gzip_inflate(std::string_view compressed, std::size_t max_size, std::string& out) {
    out.clear();
    gzip_inflater inflater(compressed, max_size);
    for (;;) {
        if (auto status = inflater.step(out, static_cast<std::size_t>(-1))) return *status;
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
