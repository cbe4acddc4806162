#pragma once
/// @file
/// @brief The listener: one acceptor hands sockets round-robin to the
/// io_contexts; each admitted connection becomes a fiber (http_session) of its
/// io_context, a refused one gets the canned 503 (busy_reply).

#include "fiber/io_context_pool.hpp"
#include "server/connection_limits.hpp"
#include "server/http_shared.hpp"
#include "server/idle_sweep.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace atrium::server {

using tcp = asio::ip::tcp;

class http_listener {
public:
    /// Everything must outlive the listener; `idles` has one list per io_context.
    http_listener(fiber::io_context_pool& ios, std::vector<std::unique_ptr<idle_list>>& idles,
                  connection_limits& limits, http_shared& shared, bool ops_only = false)
        : ios(ios), idles(idles), limits(limits), shared(shared), ops_only_(ops_only) {
        acceptor.emplace(ios.front());
    }

    /// Binds `web.listen` and accepts (on the first io_context, once it runs).
    void listen();
    /// Stops accepting; on the acceptor's thread while it runs.
    void close() noexcept;
    /// Destroys the acceptor (before the io_contexts: a pending accept may own
    /// a socket of another io_context, which must still exist then).
    void destroy() noexcept { acceptor.reset(); }

    const tcp::endpoint& endpoint() const noexcept { return bound; }

private:
    void accept_next();
    void retry_accept_later();
    void hand_over(asio::io_context& io, idle_list& idle_connections, tcp::socket socket);

    fiber::io_context_pool& ios;
    std::vector<std::unique_ptr<idle_list>>& idles;
    connection_limits& limits;
    http_shared& shared;
    std::optional<tcp::acceptor> acceptor;
    tcp::endpoint bound;
    std::size_t next_io = 0;           // acceptor thread only
    std::atomic<int> busy_replies{0};  ///< busy_reply objects alive (they die with the io_contexts)
    bool ops_only_ = false;            ///< web.metrics_listen: only server/ops_routes.hpp's routes
};

}  // namespace atrium::server
