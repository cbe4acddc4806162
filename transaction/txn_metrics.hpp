#pragma once
/// @file
/// @brief The transaction layer's metrics (util/metrics.hpp): transactions by
/// outcome, retries by cause, commit latency, pool wait, two-phase-commit
/// outcomes and recovery actions. Registered on first use (get()).

#include "util/metrics.hpp"

#include <string_view>

namespace atrium::txn_metrics {

enum class retry_cause { serialization, deadlock, lock_fix, busy, connection, other, count };

struct set {
    metrics::counter& started;
    metrics::counter& committed;
    metrics::counter& rolled_back;
    metrics::counter& commit_failed;
    metrics::counter& read_only;
    metrics::counter* retries[static_cast<int>(retry_cause::count)];
    metrics::histogram& commit_seconds;
    metrics::histogram& pool_wait_seconds;
    metrics::counter& tpc_committed;
    metrics::counter& tpc_rolled_back;
    metrics::counter& tpc_failed;
    metrics::counter& recovery_committed;
    metrics::counter& recovery_rolled_back;
    metrics::counter& recovery_failed;
};

/// Every series, registered on the first call.
const set& get();

/// The cause of a retryable database error, from its code (SQLSTATE or SQLite name).
retry_cause cause_of(std::string_view code) noexcept;

inline void count_retry(retry_cause cause) noexcept { get().retries[static_cast<int>(cause)]->add(); }

}  // namespace atrium::txn_metrics
