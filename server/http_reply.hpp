#pragma once
/// @file
/// @brief Replies: the response head serialised without Beast's field tree,
/// writing one reply (gzip above 1400 bytes, Connection, Content-Length), and
/// the canned 503 beyond `web.max_connections`.

#include "server/http_shared.hpp"
#include "server/jsonrpc_codec.hpp"
#include "fiber/runtime.hpp"
#include "util/text.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

/// Replies above this size are gzipped for clients that accept it.
constexpr std::size_t gzip_threshold = 1400;
/// Replies from this size on are compressed on the worker pool.
constexpr std::size_t offload_size = 256 * 1024;

/// A response's header with what Beast's basic_fields and its serializer
/// would make of it (same bytes), without their allocations and tree: set()
/// trims the value, replaces every field of that name (any case) and appends.
/// The views must outlive serialize().
class reply_head {
public:
    void set(std::string_view name, std::string_view value) {
        if (name.size() + 2 > max_part || value.size() + 2 > max_part) throw std::length_error("field too large");
        value = util::trim(value, util::http_whitespace);
        fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                                     [&](const auto& field) { return beast::iequals(field.first, name); }),
                      fields_.end());
        fields_.emplace_back(name, value);
    }

    /// "HTTP/x.y NNN reason\r\n", "name: value\r\n" per field, "\r\n"; in
    /// `stack` if it fits, else in `heap`.
    template <std::size_t N>
    std::string_view serialize(unsigned version, unsigned code, std::string_view reason, char (&stack)[N],
                               std::string& heap) const {
        std::size_t size = 13 + reason.size() + 2 + 2;
        for (const auto& [name, value] : fields_) size += name.size() + 2 + value.size() + 2;
        char* out = stack;
        if (size > N) {
            heap.resize(size);
            out = heap.data();
        }
        char* p = out;
        const char start[13] = {'H', 'T', 'T', 'P', '/', static_cast<char>('0' + version / 10), '.',
                                static_cast<char>('0' + version % 10), ' ', static_cast<char>('0' + code / 100),
                                static_cast<char>('0' + (code / 10) % 10), static_cast<char>('0' + code % 10), ' '};
        p = put(p, std::string_view(start, sizeof start));
        p = put(p, reason);
        p = put(p, "\r\n");
        for (const auto& [name, value] : fields_) {
            p = put(put(put(put(p, name), ": "), value), "\r\n");
        }
        p = put(p, "\r\n");
        return {out, static_cast<std::size_t>(p - out)};
    }

private:
    static constexpr std::size_t max_part = 65535;  // basic_fields' 16-bit offsets

    static char* put(char* p, std::string_view text) {
        std::memcpy(p, text.data(), text.size());
        return p + text.size();
    }

    boost::container::small_vector<std::pair<std::string_view, std::string_view>, 12> fields_;
};

/// Writes `reply` with the extra (CORS) headers; true if the connection stays
/// open (written, and `keep_alive`).
bool write_reply(const http_shared& shared, beast::tcp_stream& stream, unsigned version, const rpc_http_reply& reply,
                 const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive, bool gzip_ok,
                 const std::string& request_id, const fiber::fiber_yield& yield);

/// The canned answer beyond `web.max_connections` (no fiber is spent on it).
class busy_reply : public std::enable_shared_from_this<busy_reply> {
public:
    /// `pending` counts the replies alive (it must outlive them).
    busy_reply(tcp::socket socket, std::atomic<int>& pending)
        : socket_(std::move(socket)), timer_(socket_.get_executor()), pending_(pending) {
        ++pending_;
    }
    ~busy_reply() { --pending_; }
    busy_reply(const busy_reply&) = delete;
    busy_reply& operator=(const busy_reply&) = delete;

    void start() {
        static const std::string response =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 20\r\nConnection: close\r\n\r\nServer is too busy\r\n";
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(response), [self](const boost::system::error_code& ec, std::size_t) {
            if (ec) return self->close();
            boost::system::error_code ignored;
            self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
            // Read what the client sent until it closes (a close with unread
            // data would reset the connection and lose the 503), 2 s at most.
            self->timer_.expires_after(std::chrono::seconds(2));
            self->timer_.async_wait([self](const boost::system::error_code& timer_ec) {
                if (!timer_ec) self->close();
            });
            self->drain();
        });
    }

private:
    void drain() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(scratch_), [self](const boost::system::error_code& ec, std::size_t) {
            if (ec) {
                self->timer_.cancel();
                return self->close();
            }
            self->drain();
        });
    }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    tcp::socket socket_;
    asio::steady_timer timer_;
    std::atomic<int>& pending_;
    std::array<char, 4096> scratch_{};
};

/// At most this many 503 answers linger at once (each keeps its socket up to
/// 2 s); beyond, a refused connection is closed at once, so that a flood of
/// refused connections cannot run the process out of file descriptors.
constexpr int max_busy_replies = 256;

}  // namespace atrium::server
