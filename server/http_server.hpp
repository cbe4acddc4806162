#pragma once
/// @file
/// @brief The HTTP/1.1 transport of the JSON-RPC server (Boost.Beast; no Beast
/// type in this header).
///
/// Threads: one io_context per thread (`web.threads`, default = cores); one
/// acceptor hands sockets round-robin to them; every connection is a fiber
/// (spawn_fiber, guarded 256 KiB stack) that never leaves its thread. Keep-alive
/// and pipelining (requests are answered in order), HTTP/1.0, OPTIONS ⇒ 204,
/// CORS (SPEC §8.1), limits (header size and time, idle time, body size 411/413,
/// gzip bodies for authenticated requests only, inflated size capped), gzip
/// responses above 1400 bytes, a TLS ClientHello on the plain port closes the
/// connection, at most `web.max_connections` connection fibers (beyond: 503
/// with Retry-After), a worker pool for run_blocking(), and a draining
/// shutdown (stop accepting, finish the calls in flight within
/// `web.drain_timeout`).

#include "server/config.hpp"
#include "server/rpc_handler.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

struct server_flags {
    bool dev = false;      ///< internal errors carry their description to the client
    bool verbose = false;  ///< debug lines (connections, HTTP-level refusals)
};

/// A request path's database (SPEC §6.1): `/` ⇒ none ("" returned with ok);
/// `/<db>/` and `/<db>/rpc/` ⇒ the (percent-decoded) name if it is made of
/// letters, digits, '_', '.', '-' and is not "." or ".."; anything else ⇒ nullopt (404).
/// The query string is ignored.
struct route_match {
    std::optional<std::string> database;
};
std::optional<route_match> match_route(std::string_view target);

/// SPEC §8.1: may a request with this Origin be served? (Empty origin: yes;
/// "null": only when `allow_null`; an origin whose host:port differs from
/// `host` must be listed in `allowed`.)
bool origin_allowed(std::string_view origin, std::string_view host, const std::vector<std::string>& allowed,
                    bool allow_null = false);

/// True if an Accept-Encoding header value accepts gzip (a q=0 refuses it).
bool accepts_gzip(std::string_view accept_encoding);

class http_server {
public:
    /// `handler` must outlive the server.
    http_server(const config& cfg, rpc_handler& handler, server_flags flags = {});
    ~http_server();  ///< shutdown() if still running
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Binds `web.listen` (port 0: any free port) and starts the threads.
    /// Throws std::system_error (e.g. the address is in use).
    void start();

    /// The bound address and port (after start()).
    std::string address() const;
    std::uint16_t port() const;

    /// Stops accepting, closes idle connections, lets the calls in flight end
    /// (their responses carry `Connection: close`) for up to
    /// `web.drain_timeout` seconds, then stops the threads. True if every
    /// connection ended in time. Idempotent.
    bool shutdown();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace atrium::server
