#pragma once
/// @file
/// @brief GET /metrics (Prometheus text format 0.0.4), /livez and /readyz.
///
/// Where they are answered (web.metrics_listen): empty, on web.listen to
/// loopback peers only (403 to others); host:port, on a listener of their own
/// that answers nothing else (404), while web.listen answers them 404.
/// /livez: 200 "ok" while the process answers. /readyz: 200 "ready" once the
/// first recovery pass is done and the database answers, unless the server
/// drains; 503 with the reason otherwise (systemd or Kubernetes probes).

#include "server/connection_control.hpp"
#include "server/jsonrpc_codec.hpp"
#include "server/http_shared.hpp"

#include <boost/beast/http/verb.hpp>

#include <optional>
#include <string_view>

namespace atrium::server {

/// The reply when this request is one of the routes above (or arrives on the
/// routes' own listener); nothing: the request goes on to the RPC routes.
std::optional<rpc_http_reply> ops_reply(http_shared& shared, const connection_control& control,
                                        boost::beast::http::verb method, std::string_view target);

}  // namespace atrium::server
