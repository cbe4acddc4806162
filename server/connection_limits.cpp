#include "server/connection_limits.hpp"

#include "transaction/remote_address.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace atrium::server {

std::string network_of(asio::ip::address address, int ipv4_prefix, int ipv6_prefix) {
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    const std::string text = address.to_string();
    const auto remote = make_remote_address(text, ipv4_prefix, ipv6_prefix);
    return remote ? remote->network : text;
}

bool connection_limits::admit(const std::shared_ptr<connection_control>& control) {
    std::shared_ptr<connection_control> victim;
    {
        std::lock_guard lock(registry_mutex);
        auto& mine = networks[control->network];
        const std::size_t cap_per_network = static_cast<std::size_t>(shared.cfg.web.max_connections_per_network);
        const bool network_full = cap_per_network > 0 && mine.size() - evicting_in(mine) >= cap_per_network;
        const bool server_full = registry.size() - evicting >= static_cast<std::size_t>(shared.cfg.web.max_connections);
        if (network_full) {
            victim = longest_waiting(mine);
        } else if (server_full) {
            victim = longest_waiting(largest_network());
            if (!victim) {
                for (const auto& [network, members] : networks) {
                    if (auto candidate = longest_waiting(members);
                        candidate && (!victim || candidate->waiting_since < victim->waiting_since)) {
                        victim = candidate;
                    }
                }
            }
        }
        if ((network_full || server_full) && !victim) {
            if (mine.empty()) networks.erase(control->network);
            shared.debug(std::string("connection refused: too busy (web.max_connections") +
                  (network_full ? "_per_network) from " : ") from ") + control->network);
            return false;
        }
        if (victim) {
            victim->eviction_pending = true;
            ++evicting;
        }
        registry.insert(control);
        mine.push_back(control);
        live.fetch_add(1);
    }
    if (victim) {
        shared.debug("connection from " + victim->network + " closed to make room (waiting longest)");
        asio::post(*victim->io, [this, victim] {
            if (victim->stream && victim->waiting.load(std::memory_order_relaxed)) {
                victim->evicted = true;
                victim->stream->cancel();
                return;
            }
            // Busy by now (or gone): it stays.
            std::lock_guard lock(registry_mutex);
            if (victim->eviction_pending) {
                victim->eviction_pending = false;
                --evicting;
            }
        });
    }
    return true;
}

void connection_limits::unregister(const std::shared_ptr<connection_control>& control) {
    registry.erase(control);
    if (control->eviction_pending) {
        control->eviction_pending = false;
        --evicting;
    }
    auto found = networks.find(control->network);
    if (found == networks.end()) return;
    auto& members = found->second;
    members.erase(std::remove(members.begin(), members.end(), control), members.end());
    if (members.empty()) networks.erase(found);
}

std::size_t connection_limits::evicting_in(const std::vector<std::shared_ptr<connection_control>>& members) {
    return static_cast<std::size_t>(std::count_if(members.begin(), members.end(),
                                                  [](const auto& c) { return c->eviction_pending; }));
}

std::shared_ptr<connection_control> connection_limits::longest_waiting(
    const std::vector<std::shared_ptr<connection_control>>& members) {
    std::shared_ptr<connection_control> best;
    std::int64_t best_since = 0;
    for (const auto& c : members) {
        if (c->eviction_pending || !c->waiting.load(std::memory_order_relaxed)) continue;
        const auto since = c->waiting_since.load(std::memory_order_relaxed);
        if (!best || since < best_since) {
            best = c;
            best_since = since;
        }
    }
    return best;
}

const std::vector<std::shared_ptr<connection_control>>& connection_limits::largest_network() const {
    static const std::vector<std::shared_ptr<connection_control>> none;
    const std::vector<std::shared_ptr<connection_control>>* largest = &none;
    for (const auto& [network, members] : networks) {
        if (members.size() > largest->size()) largest = &members;
    }
    return *largest;
}

void connection_limits::connection_ended() {
    if (live.fetch_sub(1) == 1) {
        std::lock_guard lock(drain_mutex);
        drained.notify_all();
    }
}

void connection_limits::close_idle() {
    std::lock_guard lock(registry_mutex);
    for (const auto& control : registry) {
        asio::post(*control->io, [control] {
            if (control->stream && control->idle) control->stream->cancel();
        });
    }
}

void connection_limits::cut_off() {
    std::lock_guard lock(registry_mutex);
    for (const auto& control : registry) {
        asio::post(*control->io, [control] {
            if (!control->stream) return;
            control->evicted = true;  // closed at once, no answer, no linger
            control->stream->cancel();
        });
    }
}

bool connection_limits::wait_drained(std::chrono::seconds timeout) {
    std::unique_lock lock(drain_mutex);
    return drained.wait_for(lock, timeout, [&] { return live.load() == 0; });
}

}  // namespace atrium::server
