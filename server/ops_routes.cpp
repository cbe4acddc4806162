#include "server/ops_routes.hpp"
// Fiber path: the readiness probe's catch (...) lets a fiber's forced_unwind
// through first (fiber::rethrow_if_unwinding()).

#include "fiber/unwind.hpp"
#include "util/metrics.hpp"

#include <boost/asio/ip/address.hpp>

namespace atrium::server {

namespace {

bool loopback_peer(const std::string& address) {
    boost::system::error_code ec;
    auto peer = boost::asio::ip::make_address(address, ec);
    if (ec) return false;
    if (peer.is_v6() && peer.to_v6().is_v4_mapped()) {
        peer = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, peer.to_v6());
    }
    return peer.is_loopback();
}

rpc_http_reply text_reply(int status, std::string body, std::string content_type = "text/plain; charset=utf-8") {
    rpc_http_reply reply;
    reply.status = status;
    reply.content_type = std::move(content_type);
    reply.body = std::move(body);
    reply.headers.emplace_back("Cache-Control", "no-store");
    return reply;
}

rpc_http_reply readiness(http_shared& shared) {
    if (shared.draining.load()) return text_reply(503, "not ready: draining\n");
    if (!shared.readiness) return text_reply(503, "not ready: starting\n");
    std::string reason;
    try {
        reason = shared.readiness();
    } catch (...) {
        fiber::rethrow_if_unwinding();
        reason = "readiness check failed";
    }
    if (!reason.empty()) return text_reply(503, "not ready: " + reason + "\n");
    return text_reply(200, "ready\n");
}

}  // namespace

std::optional<rpc_http_reply> ops_reply(http_shared& shared, const connection_control& control,
                                        boost::beast::http::verb method, std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    const bool ours = path == "/metrics" || path == "/livez" || path == "/readyz";
    const bool own_listener = !shared.cfg.web.metrics_listen.empty();
    if (control.ops_only) {
        if (!ours) return text_reply(404, "Not found\n");
    } else {
        if (!ours || method != boost::beast::http::verb::get) return std::nullopt;
        if (own_listener) return text_reply(404, "Not found\n");
        if (!loopback_peer(control.address)) return text_reply(403, "Forbidden: loopback peers only\n");
    }
    if (method != boost::beast::http::verb::get) {
        auto reply = text_reply(405, "Method not allowed\n");
        reply.headers.emplace_back("Allow", "GET");
        return reply;
    }
    if (path == "/livez") return text_reply(200, "ok\n");
    if (path == "/readyz") return readiness(shared);
    return text_reply(200, metrics::render(), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace atrium::server
