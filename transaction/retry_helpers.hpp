#pragma once
// Retry helpers of SPEC §3.8 for the Zope-style manager:
//
//   for (auto& attempt : tpc::attempts(manager, 3))
//       attempt.run([&](tpc::zope_transaction& txn) { ... });
//
//   int n = tpc::with_attempts(manager, 3, [&](tpc::zope_transaction& txn) { return 42; });
//   auto v = tpc::run(manager, [&] { return compute(); }, 3, "compute", "Doc text.");
//
// An attempt begins a transaction, runs the body, commits; on success the
// iteration stops; on an exception (body or commit) it aborts and swallows the
// exception iff it is retryable (evaluated before aborting) and this is not the
// last attempt. Bodies may take `tpc::zope_transaction&` or nothing.

#include "transaction/manager.hpp"

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace atrium::tpc {

/// The error is an atrium::transient_error.
bool is_transient(const std::exception_ptr& error) noexcept;
/// transient_error, or any DM joined to `txn` says should_retry(error).
bool is_retryable(const coordinator& txn, const std::exception_ptr& error);
/// Same with the manager's current transaction (never creates one; none ⇒ transient only).
bool is_retryable(const transaction_manager& manager, const std::exception_ptr& error);

class attempt_range;

/// One attempt of attempts(). Use run() at most once per attempt.
class attempt {
public:
    /// 1-based.
    int number() const noexcept { return number_; }
    bool is_last() const noexcept { return number_ >= total_; }
    bool succeeded() const noexcept { return succeeded_; }

    /// begin(); body(txn); manager.commit(). Returns true on success (the iteration
    /// then stops). On an exception from the body or the commit: manager.abort(), then
    /// returns false (swallowed) iff retryable and not the last attempt, else rethrows.
    bool run(const std::function<void(zope_transaction&)>& body);

private:
    friend class attempt_range;
    attempt(transaction_manager& manager, int total) : manager_(&manager), total_(total) {}
    transaction_manager* manager_;
    int total_;
    int number_ = 1;
    bool succeeded_ = false;
};

/// The single-pass range returned by attempts().
class attempt_range {
public:
    struct sentinel {};
    class iterator {
    public:
        using value_type = attempt;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        attempt& operator*() const noexcept { return range_->current_; }
        attempt* operator->() const noexcept { return &range_->current_; }
        iterator& operator++() {
            range_->advance();
            return *this;
        }
        void operator++(int) { range_->advance(); }
        bool operator==(sentinel) const noexcept { return range_->done(); }

    private:
        friend class attempt_range;
        explicit iterator(attempt_range* range) : range_(range) {}
        attempt_range* range_ = nullptr;
    };

    iterator begin() noexcept { return iterator(this); }
    sentinel end() const noexcept { return {}; }

private:
    friend attempt_range attempts(transaction_manager& manager, int n);
    attempt_range(transaction_manager& manager, int n) : current_(manager, n) {}
    attempt_range(const attempt_range&) = default;
    bool done() const noexcept { return current_.succeeded_ || current_.number_ > current_.total_; }
    void advance() noexcept {
        if (!current_.succeeded_) ++current_.number_;
    }
    attempt current_;
};

/// n ≤ 0 ⇒ value_error. Produces up to n attempts (see attempt::run).
attempt_range attempts(transaction_manager& manager, int n = 3);

namespace detail {

/// "name\n\ndoc", "name", "doc" or "" (a name of "_" counts as absent).
std::string run_note(std::string_view name, std::string_view doc);

/// The loop of run(): tries ≤ 0 ⇒ value_error; each try begin(), note, call, commit.
void run_tries(transaction_manager& manager, int tries, std::string_view name, std::string_view doc,
               const std::function<void(zope_transaction&)>& call);

template <class F>
decltype(auto) invoke_body(F& fn, zope_transaction& txn) {
    if constexpr (std::is_invocable_v<F&, zope_transaction&>)
        return std::invoke(fn, txn);
    else
        return std::invoke(fn);
}

template <class F>
using body_result_t = std::remove_cvref_t<decltype(invoke_body(std::declval<F&>(), std::declval<zope_transaction&>()))>;

}  // namespace detail

/// attempts() around a callable; returns its result (by value) from the successful attempt.
template <class F>
auto with_attempts(transaction_manager& manager, int n, F&& body) -> detail::body_result_t<F> {
    using result_t = detail::body_result_t<F>;
    std::optional<std::conditional_t<std::is_void_v<result_t>, bool, result_t>> result;
    for (auto& a : attempts(manager, n)) {
        const bool ok = a.run([&](zope_transaction& txn) {
            if constexpr (std::is_void_v<result_t>) {
                detail::invoke_body(body, txn);
                result.emplace(true);
            } else {
                result.emplace(detail::invoke_body(body, txn));
            }
        });
        if (ok) break;
    }
    // The last attempt either succeeded or threw.
    if constexpr (!std::is_void_v<result_t>) return std::move(*result);
}

/// SPEC §3.8 run(fn, tries=3): each try begin(), note(name unless "_", blank line,
/// doc), call fn, commit the begun transaction, return fn's value. Any exception ⇒
/// abort; retried only if it is a normal error (std::exception), tries remain and
/// it is retryable (evaluated before aborting).
template <class F>
auto run(transaction_manager& manager, F&& fn, int tries = 3, std::string_view name = {},
         std::string_view doc = {}) -> detail::body_result_t<F> {
    using result_t = detail::body_result_t<F>;
    if constexpr (std::is_void_v<result_t>) {
        detail::run_tries(manager, tries, name, doc, [&](zope_transaction& txn) { detail::invoke_body(fn, txn); });
    } else {
        std::optional<result_t> result;
        detail::run_tries(manager, tries, name, doc,
                          [&](zope_transaction& txn) { result.emplace(detail::invoke_body(fn, txn)); });
        return std::move(*result);
    }
}

}  // namespace atrium::tpc
