#pragma once
/// @file
/// @brief The server's own metrics (util/metrics.hpp): calls by method family
/// and outcome with their latency, requests refused before a call by reason,
/// and the live figures of the HTTP server read at scrape time.

#include "util/metrics.hpp"

#include <functional>
#include <string_view>

namespace atrium::server::ops {

enum class call_outcome { ok, user_error, http_error, unavailable, timeout, rate_limited, not_found, invalid_params, internal, count };

/// One finished call: atrium_rpc_calls_total{family,outcome}, atrium_rpc_call_duration_seconds{family}.
void record_call(std::string_view method, call_outcome outcome, double seconds) noexcept;

enum class rejection {
    connection_cap,     ///< web.max_connections(_per_network): 503 or no answer
    rate_limit,         ///< 429 (login attempts)
    body_limit,         ///< 413
    header_limit,       ///< 431
    length_required,    ///< 411
    unsupported_media,  ///< 415
    origin,             ///< 403 (CORS)
    count
};

/// atrium_http_rejected_requests_total{reason}.
void count_rejection(rejection reason) noexcept;

/// Registers every series above (they show 0 before their first event).
void register_all();

/// What the HTTP server reports at each scrape.
struct server_figures {
    std::function<double()> open_connections;
    std::function<double()> fibers_alive;
    std::function<double()> worker_queued;
    std::function<double()> worker_running;
    std::function<double()> draining;
    std::function<double()> bus_parked;  ///< clients waiting on POST /<db>/bus
};

/// A collector for them (held by the server, unregistered with it).
metrics::collector_handle server_collector(server_figures figures);

}  // namespace atrium::server::ops
