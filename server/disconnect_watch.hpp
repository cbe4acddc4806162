#pragma once
/// @file
/// @brief Notices that the client of a running call went away: while it
/// lives, the connection's socket is watched for readability (the request
/// has been read whole); readable with nothing to read is the peer's FIN or
/// reset, and cancels the call (db::cancellation: its running PostgreSQL
/// statement gets a cancel request; nothing more of it starts). Readable
/// with data is a pipelined request: not a disconnect, the watch ends.
/// A client that half-closes its sending side after a request counts as gone.

#include "database/call_limits.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace atrium::server {

class disconnect_watch {
public:
    /// Starts watching `socket` (on its io_context's thread, the caller's).
    disconnect_watch(boost::asio::ip::tcp::socket& socket, std::shared_ptr<db::cancellation> cancel);
    /// Stops watching (the pending wait completes aborted, touching nothing).
    ~disconnect_watch();
    disconnect_watch(const disconnect_watch&) = delete;
    disconnect_watch& operator=(const disconnect_watch&) = delete;

private:
    struct state {
        bool stopped = false;
    };
    boost::asio::ip::tcp::socket& socket_;
    std::shared_ptr<state> state_;
};

}  // namespace atrium::server
