#pragma once
// An in-process first-come first-served queue in front of a start-time table
// lock (SPEC §4.2). Without it, every caller that needs the lock takes a pooled
// connection and fails NOWAIT (55P03) over and over while the holder may need a
// second connection of the same pool (an independent transaction): at 16
// callers most of them exhausted their retries. Queued callers wait without a
// connection, each for a bounded time, and are served in arrival order.
// Other processes still meet the database lock itself (NOWAIT + retries).

#include <chrono>
#include <memory>
#include <string>

namespace atrium {

/// Held while a transaction owns its turn; releasing it (destruction) hands
/// the turn to the next waiter.
class lock_turn {
public:
    virtual ~lock_turn() = default;
};

/// Waits (suspending the fiber) for the turn on `key` (e.g. "<db>\n<table>")
/// for at most `wait`; nullptr if it did not come in time.
std::unique_ptr<lock_turn> wait_for_lock_turn(const std::string& key, std::chrono::nanoseconds wait);

/// Callers waiting for `key` now (for tests and logs).
std::size_t lock_turn_waiters(const std::string& key);

}  // namespace atrium
