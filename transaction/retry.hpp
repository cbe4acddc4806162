#pragma once
// The dispatcher's retry loop (SPEC §4.3), usable by any caller that runs a
// unit of work in its own transaction: database errors of category retryable
// are retried with back-off, TransactionError (category needs_fix) is fixed and
// retried (bounded), timeouts and everything else propagate.

#include "transaction/transaction.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

namespace atrium {

/// How a call is retried. What each attempt's transaction is (read-only,
/// context, statement timeout, language, lock retries) is `start`, the one
/// source of it; the loop only adds the fixed extras.
struct retry_options {
    transaction_options start;             ///< read-only calls are never retried on database errors
    int retry = 5;                         ///< `database.retry`
    int max_fixes = 10;                    ///< bound on TransactionError retries
    std::chrono::nanoseconds backoff = std::chrono::milliseconds(20);  ///< sleep backoff × count
};

/// Thrown by a unit of work to roll back and still answer with a value.
class return_result : public std::exception {
public:
    explicit return_result(nlohmann::json value) : value_(std::move(value)) {}
    const nlohmann::json& value() const noexcept { return value_; }
    const char* what() const noexcept override { return "rollback and return a result"; }

private:
    nlohmann::json value_;
};

/// What the loop did, for logs and tests.
struct retry_report {
    int retries = 0;  ///< database-error retries
    int fixes = 0;    ///< TransactionError fixes
    nlohmann::json extras = nlohmann::json::object();  ///< extras of the last attempt
    // Where the time went, for the slow-call log (nanoseconds, every attempt):
    std::uint64_t pool_wait_ns = 0;  ///< waiting for a pooled connection
    std::uint64_t commit_ns = 0;     ///< committing (the successful attempt)
    std::uint64_t backoff_ns = 0;    ///< sleeping between attempts
};

/// Runs `work` in a transaction, committed explicitly, retried per SPEC §4.3.
/// The fiber's task queue is cleared on every retry.
nlohmann::json call_with_retry(std::shared_ptr<db::database> database, std::int64_t user,
                               const retry_options& options,
                               const std::function<nlohmann::json(transaction&)>& work,
                               retry_report* report = nullptr);

/// Runs the fiber's queued tasks, last queued first, emptying the queue.
void drain_tasks(const std::function<void(std::int64_t)>& run_task);

}  // namespace atrium
