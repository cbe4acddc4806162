#pragma once
// The generation of what a process caches from one database's rows (access
// rights, the set of active modules): every change of those rows moves it in
// every process using the database, so a cache entry remembered under an older
// generation is dropped on the next call, not after an expiry.
// * PostgreSQL: the changing transaction sends NOTIFY on cache_channel, which
//   is delivered only if it commits; each serving process LISTENs (the
//   dispatcher) and calls heard(). While nobody listens, current() is 0 and
//   nothing is served from these caches. A NOTIFY arrives asynchronously:
//   the processes of one host also share a counter (host_counter()), moved
//   in the transaction and again once it has ended, so that they see the
//   change on their very next call even before the notification arrives.
// * SQLite: the database's change counter of that name (shared by every
//   process through a mapped file), moved in the transaction and again once
//   it has ended, as for sessions (res/auth.cpp).
// A transaction may have read the rows before a change it is told about (its
// snapshot is older): what it reads is cached only if no change was heard
// since it started (stamp()).

#include "database/database.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace atrium {
class transaction;
}

namespace atrium::modules {

/// The LISTEN/NOTIFY channel, and the SQLite change counter's topic.
inline constexpr const char* cache_channel = "atrium_cache";

class cache_generation {
public:
    /// `shared`: the database's change counter (SQLite); nullptr: LISTEN/NOTIFY.
    /// `host`: PostgreSQL's counter of this host's processes (may be nullptr).
    explicit cache_generation(std::shared_ptr<db::shared_counter> shared,
                              std::shared_ptr<db::shared_counter> host = nullptr)
        : shared_(std::move(shared)), host_(std::move(host)) {}

    /// The generation now; 0 when changes cannot be heard (trust nothing).
    std::uint64_t current() const noexcept;
    /// The generation what `txn` reads may be cached under: current(), or 0
    /// when a change was heard since `txn` started (or there is no `txn`).
    std::uint64_t stamp(const transaction* txn) const noexcept;

    /// LISTEN/NOTIFY: a change was announced (a notification arrived).
    void heard() noexcept;
    /// LISTEN/NOTIFY: the listener is up (true) or lost (false).
    void listening(bool up) noexcept;

private:
    void moved() const noexcept;  // records when the generation last moved

    std::shared_ptr<db::shared_counter> shared_;
    std::shared_ptr<db::shared_counter> host_;
    std::atomic<std::uint64_t> local_{1};
    std::atomic<bool> listening_{false};
    mutable std::atomic<std::uint64_t> seen_{0};        // the shared counter's value last seen
    mutable std::atomic<std::uint64_t> changed_at_{0};  // transaction::monotonic_time() of the last move
};

/// The generation of `database` in this process (one per database name).
std::shared_ptr<cache_generation> generation_of(db::database& database);

/// PostgreSQL: the counter of `topic` for `database` shared by the processes
/// of this host (a mapped file in /dev/shm; two servers' databases of one
/// name share it, which costs only extra re-checks); nullptr if it cannot be
/// set up (the NOTIFY alone then).
std::shared_ptr<db::shared_counter> host_counter(db::database& database, std::string_view topic);
/// Moves `counter` now and again once the current transaction has ended.
void move_counter(const std::shared_ptr<db::shared_counter>& counter);

/// Inside a transaction that changes cached rows: tells every process
/// (this one included) once it commits. A failure to announce is logged.
void announce_cache_change();

}  // namespace atrium::modules
