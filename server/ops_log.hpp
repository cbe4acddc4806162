#pragma once
/// @file
/// @brief The call's log lines besides the default text one: the JSON line
/// (log.format = json) and the slow-call line (log.slow_call_ms).

#include "server/rpc_handler.hpp"

#include <string>
#include <string_view>

namespace atrium::server {

/// {"event":"call","request_id":…,"database":…,"user":…,"method":…,
/// "duration_ms":…,"retries":…,"outcome":…} (logging.hpp merges time and level in).
std::string json_call_line(const rpc_request& request, double duration_ms, std::string_view outcome);

/// Where a slow call's time went: pool wait, commit, back-off between
/// retries, and the rest (statements and module code). Text or JSON per log.format.
std::string slow_call_line(const rpc_request& request, double duration_ms, std::string_view outcome);

}  // namespace atrium::server
