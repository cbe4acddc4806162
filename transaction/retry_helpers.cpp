#include "transaction/retry_helpers.hpp"

#include "fiber/unwind.hpp"
#include "transaction/logging.hpp"

// Every catch (...) here rethrows forced_unwind first (fiber::rethrow_if_unwinding);
// it is never retried.

namespace atrium::tpc {

namespace {

bool is_normal_error(const std::exception_ptr& error) noexcept {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception&) {
        return true;
    } catch (...) {
        // Not a std::exception (including forced_unwind): fatal, never retried.
        return false;
    }
}

}  // namespace

bool is_transient(const std::exception_ptr& error) noexcept {
    if (!error) return false;
    try {
        std::rethrow_exception(error);
    } catch (const transient_error&) {
        return true;
    } catch (...) {
        // Anything else, forced_unwind included, is not transient.
        return false;
    }
}

bool is_retryable(const coordinator& txn, const std::exception_ptr& error) {
    if (!error) return false;
    if (is_transient(error)) return true;
    for (const auto& dm : txn.resources())
        if (dm->should_retry(error)) return true;
    return false;
}

bool is_retryable(const transaction_manager& manager, const std::exception_ptr& error) {
    if (auto txn = manager.current()) return is_retryable(*txn, error);
    return is_transient(error);
}

attempt_range attempts(transaction_manager& manager, int n) {
    if (n <= 0) throw value_error("number must be positive");
    return attempt_range(manager, n);
}

bool attempt::run(const std::function<void(zope_transaction&)>& body) {
    std::shared_ptr<zope_transaction> txn = manager_->begin();
    try {
        body(*txn);
        manager_->commit();
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // Body or commit failed (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        const bool retry = !is_last() && is_retryable(*manager_, error);  // before aborting
        manager_->abort();
        if (!retry) std::rethrow_exception(error);
        log_info("attempt " + std::to_string(number_) + " of " + std::to_string(total_) +
                 " failed with a retryable error, retrying: " + describe_exception(error));
        return false;
    }
    succeeded_ = true;
    return true;
}

namespace detail {

std::string run_note(std::string_view name, std::string_view doc) {
    const bool has_name = !name.empty() && name != "_";
    std::string note;
    if (has_name) note.append(name);
    if (has_name && !doc.empty()) note.append("\n\n");
    note.append(doc);
    return note;
}

void run_tries(transaction_manager& manager, int tries, std::string_view name, std::string_view doc,
               const std::function<void(zope_transaction&)>& call) {
    if (tries <= 0) throw value_error("tries must be > 0");
    const std::string note = run_note(name, doc);
    for (int attempt = 1;; ++attempt) {
        std::shared_ptr<zope_transaction> txn = manager.begin();
        if (!note.empty()) txn->note(note);
        try {
            call(*txn);
            txn->commit();
            return;
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // Any error: abort; retry only normal, retryable errors while tries remain
            // (forced_unwind was rethrown above).
            std::exception_ptr error = std::current_exception();
            const bool retry = attempt < tries && is_normal_error(error) && is_retryable(*txn, error);
            txn->abort();
            if (!retry) std::rethrow_exception(error);
            log_info("try " + std::to_string(attempt) + " of " + std::to_string(tries) +
                     " failed with a retryable error, retrying: " + describe_exception(error));
        }
    }
}

}  // namespace detail

}  // namespace atrium::tpc
