#pragma once
/// @file
/// @brief `POST /<db>/bus` (issue 22), trytond 6.0's long polling: the body
/// `{"last_message": <id or null>, "channels": ["client:<uuid>", …]}`, the
/// credentials checked as a call's (wrong ones: 401), then the answer of
/// bus_service::subscribe. A client may name `client:*` channels only (the
/// others are ignored, `user:*` included); its own `user:<id>` is always added.
/// Each answer is logged as a call ("bus").

#include "server/http_shared.hpp"
#include "server/jsonrpc_codec.hpp"

#include <string>

namespace atrium::server {

class bus_service;

/// The reply to one bus request whose body has been read (on its fiber).
rpc_http_reply bus_reply(http_shared& shared, bus_service& bus, const rpc_call_context& context,
                         const std::string& body);

/// The channels a subscriber of `user` gets for the ones it asked (`asked`
/// must be a JSON array; anything but client:* strings is ignored; at most 64).
std::vector<std::string> bus_channels(const nlohmann::json& asked, std::int64_t user);

}  // namespace atrium::server
