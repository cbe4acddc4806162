#pragma once
/// @file
/// @brief One database's bus in this process (issue 22): the recent messages
/// in commit order, as the feed (server/bus_service.hpp) heard them, and the
/// parked clients waiting for one on their channels. Thread-safe; no I/O.
///
/// A client's position is a sequence number in the log: after the message it
/// last saw (`last_message`), at the end for `null` (only new ones). Messages
/// leave the log after `retention` or beyond `max_messages`. A parked client
/// registers a one-shot waker under each of its channels; appending a message
/// wakes (and forgets) the wakers of its channel.

#include "fiber/waker.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace atrium::server {

struct bus_entry {
    std::int64_t id = 0;
    std::string channel;
    nlohmann::json message;  ///< with "message_id"
    double created = 0;      ///< epoch seconds
};

class bus_hub {
public:
    bus_hub(double retention_seconds, std::size_t max_messages)
        : retention_(retention_seconds), max_messages_(max_messages) {}

    /// Where a client that last saw `last` reads from: after that message when
    /// the log has it, the end for none, else the first message with a greater id.
    std::uint64_t position_after(std::optional<std::int64_t> last) const;
    /// The first message at or after `position` on one of `channels`.
    std::optional<bus_entry> next(const std::vector<std::string>& channels, std::uint64_t position) const;

    /// Parks `waker` under `channels`; false (nothing parked) when a message
    /// for them is already at or after `position`, or the hub is stopped.
    bool park(const std::vector<std::string>& channels, std::uint64_t position,
              const std::shared_ptr<fiber::waker>& waker);
    /// Forgets `waker` (after its wait, woken or not).
    void unpark(const std::vector<std::string>& channels, const std::shared_ptr<fiber::waker>& waker);

    /// Appends messages in commit order (ids already in the log are skipped)
    /// and wakes the clients of their channels; drops what is too old.
    /// `now`: epoch seconds. Returns how many were appended.
    std::size_t append(std::vector<bus_entry> entries, double now);
    /// Wakes every parked client; later park() calls refuse.
    void stop();
    bool stopped() const;

    /// The highest id appended so far (0: none).
    std::int64_t newest() const;
    /// Messages in the log, clients parked (one per waker).
    std::size_t size() const;
    std::size_t parked() const;

private:
    void expire(double now);  // under mutex_
    std::optional<bus_entry> next_locked(const std::vector<std::string>& channels, std::uint64_t position) const;

    const double retention_;
    const std::size_t max_messages_;
    mutable std::mutex mutex_;
    std::deque<bus_entry> log_;
    std::uint64_t base_ = 0;  // position of log_.front()
    std::unordered_map<std::int64_t, std::uint64_t> positions_;  // id → position
    std::unordered_map<std::string, std::unordered_set<std::shared_ptr<fiber::waker>>> waiting_;
    std::unordered_set<std::shared_ptr<fiber::waker>> parked_;
    std::int64_t newest_ = 0;
    bool stopped_ = false;
};

}  // namespace atrium::server
