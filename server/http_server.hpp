#pragma once
/// @file
/// @brief The HTTP/1.1 transport of the JSON-RPC server (Boost.Beast; no Beast
/// type in this header).
///
/// Threads: one io_context per thread (`web.threads`, default = cores); one
/// acceptor hands sockets round-robin to them; every connection is a fiber
/// (fiber::spawn_fiber, guarded 256 KiB stack) that never leaves its thread. Keep-alive
/// and pipelining (requests are answered in order), HTTP/1.0, OPTIONS ⇒ 204,
/// CORS (SPEC §8.1), limits (header size and time, idle time, body size 411/413:
/// the large limit and gzip bodies only for credentials the handler verified
/// before the body is read, inflation stopped at the cap, large bodies
/// inflated and parsed on the worker pool), gzip responses above 1400 bytes, a TLS
/// ClientHello on the plain port closes the connection, at most
/// `web.max_connections` connection fibers and `web.max_connections_per_network`
/// per client network (at a cap the connection waiting longest for a request
/// or its headers is closed; 503 with Retry-After when none waits), a worker
/// pool for run_blocking(), and a draining shutdown (stop accepting, finish
/// the calls in flight within `web.drain_timeout`).

#include "server/config.hpp"
#include "server/http_rules.hpp"
#include "server/rpc_handler.hpp"

#include <cstdint>
#include <functional>
#include <utility>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

struct server_flags {
    bool dev = false;      ///< internal errors carry their description to the client
    bool verbose = false;  ///< debug lines (connections, HTTP-level refusals)
};

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

    /// GET /readyz asks `check` (on a request's fiber): empty when ready, else
    /// the reason. Until set, /readyz answers 503 "starting".
    void set_readiness(std::function<std::string()> check);
    /// web.metrics_listen's bound address and port (after start()), if set.
    std::optional<std::pair<std::string, std::uint16_t>> metrics_endpoint() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace atrium::server
