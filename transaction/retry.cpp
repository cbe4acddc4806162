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
    // The call's deadline and cancellation bound the loop: no retry, fix or
    // back-off runs past them.
    const db::deadline until = earliest(options.start.deadline, fiber_state().call().deadline);
    const auto cancel = options.start.cancel ? options.start.cancel : fiber_state().call().cancel;
    const auto stop_if_out_of_time = [&](const std::chrono::nanoseconds pause, const char* what,
                                         const std::exception& error) {
        if (cancel && cancel->cancelled()) db::throw_deadline_passed(std::string(what) + error.what(), true);
        if (until && db::deadline_clock::now() + pause >= *until) {
            log_warning(std::string("call deadline: not ") + what + error.what());
            db::throw_deadline_passed(std::string(what) + error.what());
        }
    };
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
            // Past the deadline nothing commits: the call either finished in
            // time or is rolled back (the scope ends with the exception).
            if (until && db::deadline_clock::now() >= *until) db::throw_deadline_passed("before COMMIT");
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
            stop_if_out_of_time(std::chrono::nanoseconds(0), "fixing and starting again after: ", error);
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
                stop_if_out_of_time(options.backoff * (count + 1), "retrying after: ", error);
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
