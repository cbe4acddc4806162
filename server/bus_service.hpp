#pragma once
/// @file
/// @brief The bus of `POST /<db>/bus` (issue 22): clients parked on fibers
/// until a message for their channels commits, and per database one feed
/// fiber that hears the commits of every process and fills the database's
/// hub (server/bus_hub.hpp):
/// * PostgreSQL: LISTEN atrium_bus on a connection of its own; the payload is
///   the message id (notifications arrive in commit order), the row is read.
/// * SQLite: this process's commits wake it at once (modules/ir/bus.hpp's
///   commit hook); other processes' move the shared counter `atrium_bus`,
///   checked every `counter_check` (a load of a mapped page); then it reads
///   the rows after the last id it saw (SQLite's ids are in commit order).
/// A parked client costs a fiber with its stack trimmed and a waker: no thread.
/// The feed also deletes messages older than `retention` (a look first, so an
/// idle database takes no write lock), once a minute.

#include "server/bus_hub.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}
namespace atrium::db {
class database;
class cancellation;
}  // namespace atrium::db

namespace atrium::server {

struct bus_settings {
    bool enabled = true;                                ///< bus.enabled (false: 501, as trytond's allow_subscribe)
    std::chrono::milliseconds long_polling_timeout{300000};  ///< bus.long_polling_timeout
    double retention = 300;                             ///< bus.retention: seconds a message is kept
    std::size_t max_messages = 10000;                   ///< per database in memory
    std::chrono::milliseconds counter_check{20};        ///< SQLite: how often other processes' counter is read
    std::chrono::milliseconds cleanup_interval{60000};  ///< how often old rows are deleted
    /// `postgresql://user@host:port/` (no database, no query): LISTEN; empty: the counter.
    std::string postgresql_uri;
};

class bus_service {
public:
    /// Feeds run on `feed_io` (one of the server's io_contexts).
    bus_service(bus_settings settings, boost::asio::io_context& feed_io);
    ~bus_service();
    bus_service(const bus_service&) = delete;
    bus_service& operator=(const bus_service&) = delete;

    const bus_settings& settings() const noexcept { return settings_; }

    /// On a fiber: the next message for `channels` after `last` (null: only
    /// new ones) as trytond answers it, `{"message": {…, "message_id": id},
    /// "channel": "…"}`, or `{"message": null, "channel": null}` after
    /// long_polling_timeout, when the client leaves (`gone`) or the server drains.
    nlohmann::json subscribe(const std::shared_ptr<db::database>& database, const std::vector<std::string>& channels,
                             std::optional<std::int64_t> last, const std::shared_ptr<db::cancellation>& gone);

    /// Wakes every parked client (each answers an empty message) and ends the
    /// feeds at their next wake-up. Idempotent; any thread.
    void stop() noexcept;
    /// Clients parked now, in every database.
    std::size_t parked() const;

private:
    struct feed;
    std::shared_ptr<feed> feed_of(const std::shared_ptr<db::database>& database);
    void run_feed(const std::shared_ptr<feed>& f);
    void listen_postgresql(feed& f);
    void watch_counter(feed& f);
    void clean(feed& f);
    void committed_here(const std::string& database);  // the commit hook

    bus_settings settings_;
    boost::asio::io_context& feed_io_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<feed>> feeds_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> parked_{0};
};

}  // namespace atrium::server
