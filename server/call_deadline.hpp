#pragma once
/// @file
/// @brief A call's deadline (issue 20): `web.call_timeout`, or the method's
/// own `rpc_definition::timeout`, counted from when the request was read,
/// and lowered (never raised) by the client's `X-Atrium-Timeout: <seconds>`
/// header. The dispatcher sets it as the fiber's call limits
/// (transaction/fiber_context.hpp), which every transaction of the call
/// obeys; expiry is a timeout error answered 408 (JSON-RPC 2.0: -32008).

#include "util/error.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

/// The request header a client lowers its call's timeout with.
inline constexpr std::string_view timeout_header_name = "X-Atrium-Timeout";

/// The header's value: seconds, a decimal number (`2`, `0.5`) greater than
/// 0 and at most one day, rounded up to whole milliseconds. Nullopt for
/// anything else (the transport answers 400).
std::optional<std::chrono::milliseconds> parse_timeout_header(std::string_view value);

/// The deadline of a call read at `received` (the epoch value: now) that may
/// run `allowed`, lowered to `client` when the client asked for less.
std::chrono::steady_clock::time_point call_deadline(std::chrono::steady_clock::time_point received,
                                                   std::chrono::milliseconds allowed,
                                                   std::optional<std::chrono::milliseconds> client);

/// What a call whose deadline passed (or whose client went away) answers:
/// HTTP 408 (Tryton dialect: plain text; JSON-RPC 2.0: error -32008 with
/// `data.status` 408). The transaction was rolled back.
class call_timeout_error : public error {
public:
    explicit call_timeout_error(std::string message) : error(std::move(message), error_category::timeout) {}
};

/// The call_timeout_error of a call read at `received` that was stopped now
/// (its database's text goes to the log, not to the client).
call_timeout_error call_timed_out(const std::exception& cause, std::chrono::steady_clock::time_point received,
                                  bool cancelled);

}  // namespace atrium::server
