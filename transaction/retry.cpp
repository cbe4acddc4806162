#include "transaction/retry.hpp"

#include "database/errors.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/txn_metrics.hpp"

namespace atrium {

nlohmann::json call_with_retry(std::shared_ptr<db::database> database, std::int64_t user,
                               const retry_options& options,
                               const std::function<nlohmann::json(transaction&)>& work,
                               retry_report* report) {
    retry_report local;
    retry_report& state = report ? *report : local;
    state = retry_report{};
    int count = 0;
    for (;;) {
        if (count > 0) {
            const auto slept = transaction::monotonic_time();
            fiber::current().sleep_for(options.backoff * count);
            state.backoff_ns += transaction::monotonic_time() - slept;
        }
        transaction_options start = options.start;
        start.extras = state.extras;
        try {
            auto scope = begin(database, user, std::move(start));
            state.pool_wait_ns += scope->pool_wait_ns();
            auto result = work(*scope);
            scope.commit();
            state.commit_ns += scope->commit_ns();
            scope.close(true);
            return result;
        } catch (const transaction_error& error) {
            // The scope has rolled back; fix the extras and start again.
            fiber_state().tasks().clear();
            if (state.fixes >= options.max_fixes) {
                log_error(std::string("giving up after ") + std::to_string(state.fixes) +
                          " transaction fixes: " + error.what());
                throw;
            }
            error.fix(state.extras);
            ++state.fixes;
            txn_metrics::count_retry(txn_metrics::retry_cause::lock_fix);
        } catch (const db::database_error& error) {
            const error_category category = error.category();
            if (category == error_category::timeout) {
                log_warning(std::string("statement timeout: ") + error.what());
                throw;
            }
            const bool retryable = category == error_category::retryable;
            if (retryable && count < options.retry && !options.start.readonly) {
                fiber_state().tasks().clear();
                ++count;
                ++state.retries;
                txn_metrics::count_retry(txn_metrics::cause_of(error.code()));
                log_info(std::string("retrying after a retryable database error: ") + error.what());
                continue;
            }
            // Retryable ones left over (busy after every retry) are no bug: the caller answers 503.
            log_message(retryable ? log_level::warning : log_level::error, std::string("database error: ") + error.what());
            throw;
        } catch (const return_result& result) {
            fiber_state().tasks().clear();
            return result.value();
        }
    }
}

void drain_tasks(const std::function<void(std::int64_t)>& run_task) {
    auto& tasks = fiber_state().tasks();
    while (!tasks.empty()) {
        auto task = tasks.back();
        tasks.pop_back();
        run_task(task);
    }
}

}  // namespace atrium
