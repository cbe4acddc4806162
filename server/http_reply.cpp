#include "server/http_reply.hpp"
#include "server/ops_metrics.hpp"

#include "server/gzip.hpp"
#include "server/process_role.hpp"
#include "server/worker_pool.hpp"

#include <boost/asio/spawn.hpp>
#include <boost/beast/http/status.hpp>

#include <charconv>

namespace atrium::server {

namespace http = beast::http;

bool write_reply(const http_shared& shared, beast::tcp_stream& stream, unsigned version, const rpc_http_reply& reply,
                 const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive, bool gzip_ok,
                 const std::string& request_id, const fiber::fiber_yield& yield) {
    // The transport's refusals, counted by their status (GET /metrics).
    switch (reply.status) {
    case 411: ops::count_rejection(ops::rejection::length_required); break;
    case 413: ops::count_rejection(ops::rejection::body_limit); break;
    case 415: ops::count_rejection(ops::rejection::unsupported_media); break;
    case 431: ops::count_rejection(ops::rejection::header_limit); break;
    default: break;
    }
    reply_head head;
    head.set("Server", "atrium/" ATRIUM_VERSION);
    head.set("X-Request-Id", request_id);
    if (const char* pid = process_header_value()) head.set("X-Atrium-Process", pid);  // web.processes > 1
    for (const auto& [name, value] : extra) head.set(name, value);
    for (const auto& [name, value] : reply.headers) head.set(name, value);
    if (!reply.content_type.empty()) head.set("Content-Type", reply.content_type);
    std::string gzipped;
    std::string_view body = reply.body;
    if (gzip_ok && reply.body.size() > gzip_threshold) {
        gzipped = reply.body.size() < offload_size ? gzip_deflate(reply.body)
                                                   : run_blocking([&] { return gzip_deflate(reply.body); });
        body = gzipped;
        head.set("Content-Encoding", "gzip");
        head.set("Vary", extra.empty() ? "Accept-Encoding" : "Origin, Accept-Encoding");
    }
    if (reply.status >= 400) shared.debug(request_id + " HTTP " + std::to_string(reply.status));
    // message::keep_alive() on a header without Connection (neither the
    // codec nor the CORS headers ever set one).
    if (version < 11 && keep_alive) head.set("Connection", "keep-alive");
    if (version >= 11 && !keep_alive) head.set("Connection", "close");
    // message::prepare_payload() for a body of known size.
    const auto status = static_cast<http::status>(reply.status);
    if (!body.empty() && (http::to_status_class(status) == http::status_class::informational ||
                          status == http::status::no_content || status == http::status::not_modified)) {
        throw std::invalid_argument("invalid response body");
    }
    char length[24];
    const auto length_end = std::to_chars(length, length + sizeof length, body.size()).ptr;
    head.set("Content-Length", std::string_view(length, static_cast<std::size_t>(length_end - length)));

    char stack_text[1024];
    std::string heap_text;
    const std::string_view text = head.serialize(version, static_cast<unsigned>(reply.status),
                                                 http::obsolete_reason(status), stack_text, heap_text);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(text.data(), text.size()),
                                                    asio::buffer(body.data(), body.size())};
    boost::system::error_code ec;
    stream.expires_after(std::chrono::seconds(shared.cfg.web.request_timeout));
    asio::async_write(stream, buffers, yield[ec]);
    return !ec && keep_alive;
}

}  // namespace atrium::server
