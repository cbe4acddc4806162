#pragma once
/// @file
/// @brief What every part of the HTTP transport reads: the configuration, the
/// handler, the codec options, the request counter and the draining flag.

#include "server/config.hpp"
#include "server/http_server.hpp"
#include "server/jsonrpc_codec.hpp"
#include "server/rpc_handler.hpp"
#include "server/static_files.hpp"

#include <atomic>
#include <functional>
#include <cstdint>
#include <string>

namespace atrium::server {

class bus_service;

struct http_shared {
    http_shared(const config& c, rpc_handler& h, server_flags f) : cfg(c), handler(h), flags(f) {
        codec.dev = f.dev;
        codec.slow_call_ms = c.log.slow_call_ms;
    }

    /// A debug line (`--verbose` only).
    void debug(const std::string& line) const;

    config cfg;
    rpc_handler& handler;
    server_flags flags;
    codec_options codec;
    std::atomic<std::uint64_t> request_counter{0};
    std::atomic<bool> draining{false};
    static_files statics{cfg.web.root, cfg.web.cache_timeout};  ///< the web client (web.root)
    /// GET /readyz: empty when ready, else why not (set once before start()).
    std::function<std::string()> readiness;
    /// POST /<db>/bus (bus.enabled; the server owns it): nullptr answers 501.
    bus_service* bus = nullptr;
};

}  // namespace atrium::server
