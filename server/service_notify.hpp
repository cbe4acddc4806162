#pragma once
/// @file
/// @brief systemd's service notifications (Type=notify, etc/atriumd.service):
/// READY=1 once listening, STOPPING=1 when draining, WATCHDOG=1 every half
/// WATCHDOG_USEC while running. Through libsystemd's sd_notify; nothing when
/// NOTIFY_SOCKET is unset or atriumd was built without libsystemd.

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace atrium::server {

/// Sends `state` ("READY=1", "STOPPING=1"…); false if not sent.
bool notify_service(const std::string& state);

/// When WATCHDOG_USEC is set: a timer on `io` sending WATCHDOG=1 every half
/// of it until `stop` is set.
void start_watchdog(boost::asio::io_context& io, std::shared_ptr<std::atomic<bool>> stop);

}  // namespace atrium::server
