#pragma once
// A dedicated PostgreSQL connection that LISTENs on one channel, for
// cross-process cache invalidation (DESIGN §6). No Asio here: the caller
// waits for socket() to be readable (on a fiber: fiber::current().wait_readable)
// and then calls drain().

#include <memory>
#include <string>
#include <vector>

namespace atrium::db {

class pg_listener {
public:
    /// Connects (`postgresql://user@host:port/dbname`) and LISTENs on `channel`.
    /// Throws operational_error when the server cannot be reached.
    pg_listener(const std::string& dsn, const std::string& channel);
    /// The same, on several channels of one connection.
    pg_listener(const std::string& dsn, const std::vector<std::string>& channels);
    ~pg_listener();
    pg_listener(const pg_listener&) = delete;
    pg_listener& operator=(const pg_listener&) = delete;

    /// The connection's socket, to wait on.
    int socket() const noexcept;
    /// Reads what arrived and returns the payloads of the notifications, in
    /// order (possibly none). Throws operational_error once the connection is lost.
    std::vector<std::string> drain();
    struct notification {
        std::string channel, payload;
    };
    /// drain(), with the channel of each notification.
    std::vector<notification> drain_notifications();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace atrium::db
