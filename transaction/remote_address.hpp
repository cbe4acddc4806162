#pragma once
// The client address of a request and the network it belongs to (SPEC §1.5),
// used by login rate limiting to group attempts per network.

#include <optional>
#include <string>

namespace atrium {

struct remote_address {
    std::string ip;       ///< as given, e.g. "192.0.2.7"
    std::string network;  ///< CIDR of the grouping network, e.g. "192.0.2.7/32"
};

/// The network `ip` belongs to with the given prefix lengths
/// (`session.ip_network_4` / `_6`), or nothing if `ip` is not an IP address.
std::optional<remote_address> make_remote_address(const std::string& ip, int ipv4_prefix = 32,
                                                  int ipv6_prefix = 56);

}  // namespace atrium
