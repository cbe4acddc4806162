#pragma once
// Validated sessions remembered in-process, so that an authenticated call
// costs no database round trip for its session check. Only databases whose
// deletions of sessions reach this process at once (PostgreSQL LISTEN on
// res::session_channel, see the dispatcher) use it; an entry never outlives
// the session's max_age nor `ttl`, and a logout here forgets it immediately.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

namespace atrium::server {

class session_cache {
public:
    using clock = std::chrono::system_clock;

    explicit session_cache(std::chrono::seconds ttl = std::chrono::seconds(60)) : ttl_(ttl) {}

    /// Caching is on for `database` only while its invalidations are heard.
    void enable(const std::string& database);
    /// Turns it off and forgets the database's entries (the listener was lost).
    void disable(const std::string& database);
    bool enabled(const std::string& database) const;

    bool valid(const std::string& database, std::int64_t user, const std::string& key) const;
    /// `expires` = when the session itself expires (created + max_age).
    void remember(const std::string& database, std::int64_t user, const std::string& key, clock::time_point expires);
    void forget_user(const std::string& database, std::int64_t user);

private:
    using entry_key = std::tuple<std::string, std::int64_t, std::string>;
    std::chrono::seconds ttl_;
    mutable std::mutex mutex_;
    std::set<std::string> enabled_;
    std::map<entry_key, clock::time_point> entries_;
};

}  // namespace atrium::server
