#include "server/static_http.hpp"

#include "server/http_rules.hpp"
#include "server/worker_pool.hpp"

#include <boost/asio/spawn.hpp>
#include <boost/beast/http/status.hpp>

#include <array>
#include <charconv>

namespace atrium::server {

namespace http = beast::http;

bool serves_static(const http_shared& shared, http::verb method) {
    return (method == http::verb::get || method == http::verb::head) && shared.statics.enabled();
}

bool serve_static(http_shared& shared, beast::tcp_stream& stream, const http::request<http::string_body>& request,
                  const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive,
                  const std::string& request_id, const fiber::fiber_yield& yield) {
    static_request asked;
    asked.target = std::string_view(request.target().data(), request.target().size());
    asked.head = request.method() == http::verb::head;
    const auto if_none_match = request[http::field::if_none_match];
    asked.if_none_match = std::string_view(if_none_match.data(), if_none_match.size());
    const auto if_modified_since = request[http::field::if_modified_since];
    asked.if_modified_since = std::string_view(if_modified_since.data(), if_modified_since.size());
    const auto accept_encoding = request[http::field::accept_encoding];
    asked.accepts_gzip = accepts_gzip(std::string_view(accept_encoding.data(), accept_encoding.size()));
    // realpath, open, and on a miss the read and the gzip: off the io thread.
    const static_reply reply = run_blocking([&] { return shared.statics.serve(asked); });

    reply_head head;
    head.set("Server", "atrium/" ATRIUM_VERSION);
    head.set("X-Request-Id", request_id);
    for (const auto& [name, value] : extra) head.set(name, value);
    for (const auto& [name, value] : reply.headers) head.set(name, value);
    const unsigned version = request.version();
    if (version < 11 && keep_alive) head.set("Connection", "keep-alive");
    if (version >= 11 && !keep_alive) head.set("Connection", "close");
    char length[24];
    const auto length_end = std::to_chars(length, length + sizeof length, reply.length).ptr;
    if (reply.status != 304) {
        head.set("Content-Length", std::string_view(length, static_cast<std::size_t>(length_end - length)));
    }
    if (reply.status >= 400) shared.debug(request_id + " HTTP " + std::to_string(reply.status));

    char stack_text[1024];
    std::string heap_text;
    const std::string_view text =
        head.serialize(version, static_cast<unsigned>(reply.status),
                       http::obsolete_reason(static_cast<http::status>(reply.status)), stack_text, heap_text);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(text.data(), text.size()), asio::const_buffer()};
    if (reply.body) buffers[1] = asio::buffer(reply.body->data(), reply.body->size());
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(shared.cfg.web.request_timeout));
    asio::async_write(stream, buffers, yield[ec]);
    return !ec && keep_alive;
}

}  // namespace atrium::server
