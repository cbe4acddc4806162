#include "server/dispatch/session_cache.hpp"

namespace atrium::server {

void session_cache::enable(const std::string& database) {
    std::lock_guard lock(mutex_);
    enabled_.insert(database);
}

void session_cache::disable(const std::string& database) {
    std::lock_guard lock(mutex_);
    enabled_.erase(database);
    for (auto it = entries_.lower_bound({database, INT64_MIN, std::string()});
         it != entries_.end() && std::get<0>(it->first) == database;)
        it = entries_.erase(it);
}

bool session_cache::enabled(const std::string& database) const {
    std::lock_guard lock(mutex_);
    return enabled_.count(database) != 0;
}

bool session_cache::valid(const std::string& database, std::int64_t user, const std::string& key,
                          std::uint64_t epoch) const {
    std::lock_guard lock(mutex_);
    if (!enabled_.count(database)) return false;
    auto found = entries_.find({database, user, key});
    return found != entries_.end() && found->second.epoch == epoch && now_() < found->second.until;
}

void session_cache::remember(const std::string& database, std::int64_t user, const std::string& key,
                             clock::time_point expires, std::uint64_t epoch) {
    std::lock_guard lock(mutex_);
    if (!enabled_.count(database)) return;
    if (entries_.size() > 100000) entries_.clear();  // bounded: a forgotten entry costs one database check
    entries_[{database, user, key}] = entry{std::min(expires, now_() + ttl_), epoch};
}

void session_cache::forget_user(const std::string& database, std::int64_t user) {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.lower_bound({database, user, std::string()});
         it != entries_.end() && std::get<0>(it->first) == database && std::get<1>(it->first) == user;)
        it = entries_.erase(it);
}

}  // namespace atrium::server
