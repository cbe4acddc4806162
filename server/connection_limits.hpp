#pragma once
/// @file
/// @brief The connection caps: `web.max_connections` and
/// `web.max_connections_per_network` (at a cap the connection waiting longest
/// for a request or its headers is closed), and the count shutdown() waits on.

#include "server/connection_control.hpp"
#include "server/http_shared.hpp"

#include <boost/asio/ip/address.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace atrium::server {

namespace asio = boost::asio;

/// The client's network as session.ip_network_4/6 groups it (an IPv4-mapped
/// IPv6 address counts as its IPv4 one); the address itself if unparsable.
std::string network_of(asio::ip::address address, int ipv4_prefix, int ipv6_prefix);

class connection_limits {
public:
    explicit connection_limits(const http_shared& s) : shared(s) {}
    connection_limits(const connection_limits&) = delete;
    connection_limits& operator=(const connection_limits&) = delete;

    /// Registers a new connection unless a cap refuses it. A network at
    /// `web.max_connections_per_network`, or the server at
    /// `web.max_connections`, first makes room by closing the connection that
    /// has waited longest for its next request or for the rest of its headers
    /// (of that network, else of the network with most connections): a client
    /// that holds many sockets open and idle loses its own, the others keep
    /// theirs. Refused (503) only when every candidate is busy with a request.
    bool admit(const std::shared_ptr<connection_control>& control);

    /// A connection's fiber ends: it leaves the caps, then the count.
    void ended(const std::shared_ptr<connection_control>& control) {
        {
            std::lock_guard lock(registry_mutex);
            unregister(control);
        }
        connection_ended();
    }

    /// Cancels the wait of every idle connection (shutdown: they close).
    void close_idle();
    /// Closes every connection still open at its next wait, as a cap would (the
    /// end of shutdown's drain: what web.drain_timeout cut off).
    void cut_off();
    /// Waits until no connection is left, `timeout` at most; true if none is.
    bool wait_drained(std::chrono::seconds timeout);
    int live_count() const noexcept { return live.load(); }

private:
    /// Under registry_mutex.
    void unregister(const std::shared_ptr<connection_control>& control);
    static std::size_t evicting_in(const std::vector<std::shared_ptr<connection_control>>& members);
    static std::shared_ptr<connection_control> longest_waiting(
        const std::vector<std::shared_ptr<connection_control>>& members);
    const std::vector<std::shared_ptr<connection_control>>& largest_network() const;
    void connection_ended();

    const http_shared& shared;
    std::atomic<int> live{0};
    std::mutex registry_mutex;
    std::set<std::shared_ptr<connection_control>> registry;
    /// The same connections by network, for the per-network cap (registry_mutex).
    std::unordered_map<std::string, std::vector<std::shared_ptr<connection_control>>> networks;
    std::size_t evicting = 0;  ///< chosen to make room, not yet gone (registry_mutex)
    std::mutex drain_mutex;
    std::condition_variable drained;
};

}  // namespace atrium::server
