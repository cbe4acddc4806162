#pragma once
/// @file
/// @brief One HTTP connection, on its own fiber: requests answered in order
/// (keep-alive, pipelining, HTTP/1.0) until close, error or timeout; the
/// limits read before the body (size, gzip, credentials), CORS, OPTIONS.

#include "server/connection_control.hpp"
#include "server/http_reply.hpp"
#include "server/http_shared.hpp"
#include "server/read_buffer.hpp"
#include "fiber/runtime.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::server {

class http_session {
public:
    explicit http_session(http_shared& s) : shared(s) {}

    /// One connection: requests answered in order until close, error or timeout.
    void serve(tcp::socket socket, connection_control& control);

private:
    bool wait_for_request(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control, bool first,
                          const fiber::fiber_yield& yield);
    void linger_close(beast::tcp_stream& stream, const fiber::fiber_yield& yield);
    bool serve_one(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control,
                   const fiber::fiber_yield& yield);
    bool write_reply(beast::tcp_stream& stream, unsigned version, const rpc_http_reply& reply,
                     const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive, bool gzip_ok,
                     const std::string& request_id, const fiber::fiber_yield& yield) {
        return server::write_reply(shared, stream, version, reply, extra, keep_alive, gzip_ok, request_id, yield);
    }
    void write_plain(beast::tcp_stream& stream, unsigned version, int status, std::string_view message,
                     const rpc_http_info& info, bool keep_alive, const fiber::fiber_yield& yield);

    http_shared& shared;
};

}  // namespace atrium::server
