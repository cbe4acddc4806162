#pragma once
// Validated sessions remembered in-process, so that an authenticated call
// costs no database round trip for its session check. Only databases whose
// deletions of sessions reach this process at once use it: PostgreSQL through
// LISTEN on res::session_channel (see the dispatcher), SQLite through the
// database's change counter of that name (db::database::change_counter),
// whose value an entry is remembered under and must still have to be valid.
// An entry never outlives the session's max_age nor `ttl`, and a logout here
// forgets it immediately.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace atrium::server {

class session_cache {
public:
    using clock = std::chrono::system_clock;
    /// Where "now" comes from: the system clock, a hand-moved one in tests.
    using now_function = std::function<clock::time_point()>;

    explicit session_cache(std::chrono::seconds ttl = std::chrono::seconds(60), now_function now = clock::now)
        : ttl_(ttl), now_(std::move(now)) {}

    /// Caching is on for `database` only while its invalidations are heard.
    void enable(const std::string& database);
    /// Turns it off and forgets the database's entries (the listener was lost).
    void disable(const std::string& database);
    bool enabled(const std::string& database) const;

    /// `epoch`: the database's change counter now (0 without one).
    bool valid(const std::string& database, std::int64_t user, const std::string& key,
               std::uint64_t epoch = 0) const;
    /// `expires` = when the session itself expires (created + max_age);
    /// `epoch` = the change counter read before the session was checked.
    void remember(const std::string& database, std::int64_t user, const std::string& key, clock::time_point expires,
                  std::uint64_t epoch = 0);
    void forget_user(const std::string& database, std::int64_t user);

private:
    using entry_key = std::tuple<std::string, std::int64_t, std::string>;
    std::chrono::seconds ttl_;
    now_function now_;
    mutable std::mutex mutex_;
    std::set<std::string> enabled_;
    struct entry {
        clock::time_point until;
        std::uint64_t epoch;
    };
    std::map<entry_key, entry> entries_;
};

}  // namespace atrium::server
