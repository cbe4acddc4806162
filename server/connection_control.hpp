#pragma once
/// @file
/// @brief One connection as shutdown(), the idle sweep and the connection caps
/// reach it.

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace atrium::server {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct idle_list;

/// What shutdown() and the idle sweeper need to reach a connection; touched
/// only on its own thread.
struct connection_control {
    asio::io_context* io = nullptr;
    idle_list* idles = nullptr;           ///< the sweeper of its thread
    beast::tcp_stream* stream = nullptr;  ///< nullptr once the connection ended
    bool idle = false;                    ///< waiting for the next request
    bool trim_requested = false;          ///< the sweeper cancelled the idle read
    // Place in its thread's idle_list, oldest idle first.
    connection_control* prev = nullptr;
    connection_control* next = nullptr;
    bool linked = false;
    std::chrono::steady_clock::time_point idle_since;
    // The per-network cap (set before the fiber starts).
    std::string address;  ///< the peer's IP address
    std::string network;  ///< its network (session.ip_network_4/6)
    // Which connection to close when a cap is reached: written on its own
    // thread, read by the acceptor's under the registry mutex.
    std::atomic<bool> waiting{false};            ///< idle, or its request's headers incomplete
    std::atomic<std::int64_t> waiting_since{0};  ///< steady_clock ticks
    bool eviction_pending = false;               ///< chosen; under the registry mutex
    bool ops_only = false;                       ///< accepted on web.metrics_listen (server/ops_routes.hpp)
    bool evicted = false;                        ///< closed by a cap (own thread): no answer, no linger

    void wait_begins() noexcept {
        waiting_since.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
        waiting.store(true, std::memory_order_relaxed);
    }
    void wait_ends() noexcept { waiting.store(false, std::memory_order_relaxed); }
};

}  // namespace atrium::server
