#pragma once
// Context, user and access scopes (SPEC §1.4). Each applies its change at once
// and returns a guard that restores the saved values on the transaction that
// created it. Guards are [[nodiscard]]; release() keeps the change for good.

#include "transaction/transaction.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <utility>

namespace atrium {

class [[nodiscard]] context_guard {
public:
    context_guard(transaction& txn, context_ptr saved) noexcept : txn_(&txn), saved_(std::move(saved)) {}
    context_guard(context_guard&& other) noexcept
        : txn_(std::exchange(other.txn_, nullptr)), saved_(std::move(other.saved_)) {}
    context_guard& operator=(context_guard&&) = delete;
    ~context_guard() { restore(); }

    /// Keeps the change permanently.
    void release() noexcept { txn_ = nullptr; }
    /// Restores now (idempotent).
    void restore() noexcept;

private:
    transaction* txn_;
    context_ptr saved_;
};

class [[nodiscard]] user_guard {
public:
    user_guard(transaction& txn, std::int64_t saved_user, context_ptr saved_context) noexcept
        : txn_(&txn), saved_user_(saved_user), saved_context_(std::move(saved_context)) {}
    user_guard(user_guard&& other) noexcept
        : txn_(std::exchange(other.txn_, nullptr)),
          saved_user_(other.saved_user_),
          saved_context_(std::move(other.saved_context_)) {}
    user_guard& operator=(user_guard&&) = delete;
    ~user_guard() { restore(); }

    void release() noexcept { txn_ = nullptr; }
    void restore() noexcept;

private:
    transaction* txn_;
    std::int64_t saved_user_;
    context_ptr saved_context_;
};

/// context = old ∪ values ∪ extra (later wins).
context_guard set_context(transaction& txn, const nlohmann::json& values,
                          const nlohmann::json& extra = nlohmann::json::object());
/// context = {}.
context_guard reset_context(transaction& txn);
/// Switches the user; `set_context` (root only) keeps the previous user in context["user"].
user_guard set_user(transaction& txn, std::int64_t user, bool set_context = false);

context_guard checking_access(transaction& txn);       ///< `_check_access` = true
context_guard without_check_access(transaction& txn);  ///< `_check_access` = false
context_guard active_records(transaction& txn);        ///< `active_test` = true
context_guard inactive_records(transaction& txn);      ///< `active_test` = false

// The same on the current transaction.
context_guard set_context(const nlohmann::json& values, const nlohmann::json& extra = nlohmann::json::object());
context_guard reset_context();
user_guard set_user(std::int64_t user, bool set_context = false);
context_guard checking_access();
context_guard without_check_access();
context_guard active_records();
context_guard inactive_records();

/// Function-wrapper forms: run `fn` inside the scope on the current transaction.
template <class Fn>
decltype(auto) with_checking_access(Fn&& fn) {
    auto guard = checking_access();
    return std::forward<Fn>(fn)();
}
template <class Fn>
decltype(auto) with_without_check_access(Fn&& fn) {
    auto guard = without_check_access();
    return std::forward<Fn>(fn)();
}
template <class Fn>
decltype(auto) with_active_records(Fn&& fn) {
    auto guard = active_records();
    return std::forward<Fn>(fn)();
}
template <class Fn>
decltype(auto) with_inactive_records(Fn&& fn) {
    auto guard = inactive_records();
    return std::forward<Fn>(fn)();
}

}  // namespace atrium
