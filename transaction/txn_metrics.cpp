#include "transaction/txn_metrics.hpp"

namespace atrium::txn_metrics {

namespace {

metrics::counter& txn(const char* outcome) {
    return metrics::register_counter("atrium_transactions_total", "Transactions ended, by outcome (started counts begins).",
                                     {{"outcome", outcome}});
}

metrics::counter* retry(const char* cause) {
    return &metrics::register_counter("atrium_transaction_retries_total",
                                      "Transactions retried by the call's retry loop, by cause.", {{"cause", cause}});
}

metrics::counter& tpc(const char* outcome) {
    return metrics::register_counter("atrium_tpc_transactions_total",
                                     "Two-phase commits with at least one participant besides the database, by outcome.",
                                     {{"outcome", outcome}});
}

metrics::counter& recovery(const char* action) {
    return metrics::register_counter("atrium_tpc_recovery_actions_total",
                                     "In-doubt transactions the recovery passes finished, by action.", {{"action", action}});
}

}  // namespace

const set& get() {
    static const set s{
        txn("started"),
        txn("committed"),
        txn("rolled_back"),
        txn("commit_failed"),
        txn("read_only"),
        {retry("serialization"), retry("deadlock"), retry("lock_fix"), retry("busy"), retry("connection"),
         retry("other")},
        metrics::register_histogram("atrium_transaction_commit_duration_seconds",
                                    "Time to commit a read-write transaction (every participant and the database).", {}),
        metrics::register_histogram("atrium_db_pool_wait_duration_seconds",
                                    "Time a transaction waited for its database connection.", {}),
        tpc("committed"),
        tpc("rolled_back"),
        tpc("failed"),
        recovery("committed"),
        recovery("rolled_back"),
        recovery("failed"),
    };
    return s;
}

retry_cause cause_of(std::string_view code) noexcept {
    if (code == "40001") return retry_cause::serialization;
    if (code == "40P01") return retry_cause::deadlock;
    if (code == "55P03" || code.substr(0, 11) == "SQLITE_BUSY" || code.substr(0, 13) == "SQLITE_LOCKED")
        return retry_cause::busy;
    if (code.substr(0, 2) == "08" || code == "57P01") return retry_cause::connection;
    return retry_cause::other;
}

}  // namespace atrium::txn_metrics
