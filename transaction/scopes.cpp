#include "transaction/scopes.hpp"

#include "transaction/errors.hpp"

namespace atrium {

/// The scopes' access to the transaction's user and context.
struct scope_access {
    static context_ptr& context(transaction& txn) noexcept { return txn.context_; }
    static std::int64_t& user(transaction& txn) noexcept { return txn.user_; }
};

namespace {

context_guard replace_context(transaction& txn, nlohmann::json context) {
    context_guard guard(txn, txn.shared_context());
    scope_access::context(txn) = std::make_shared<const nlohmann::json>(std::move(context));
    return guard;
}

}  // namespace

void context_guard::restore() noexcept {
    if (!txn_) return;
    scope_access::context(*txn_) = std::move(saved_);
    txn_ = nullptr;
}

void user_guard::restore() noexcept {
    if (!txn_) return;
    scope_access::user(*txn_) = saved_user_;
    scope_access::context(*txn_) = std::move(saved_context_);
    txn_ = nullptr;
}

context_guard set_context(transaction& txn, const nlohmann::json& values, const nlohmann::json& extra) {
    if (!values.is_null() && !values.is_object()) throw type_error("context must be a dictionary");
    if (!extra.is_null() && !extra.is_object()) throw type_error("context must be a dictionary");
    nlohmann::json context = txn.context();
    if (values.is_object()) context.update(values);
    if (extra.is_object()) context.update(extra);
    return replace_context(txn, std::move(context));
}

context_guard reset_context(transaction& txn) { return replace_context(txn, nlohmann::json::object()); }

user_guard set_user(transaction& txn, std::int64_t user, bool set_context) {
    // Checked before anything changes.
    if (set_context && user != root_user) throw value_error("set_context only allowed for root");
    user_guard guard(txn, txn.user(), txn.shared_context());
    nlohmann::json context = txn.context();
    if (set_context) {
        if (user != txn.user()) context["user"] = txn.user();
    } else {
        context.erase("user");
    }
    scope_access::context(txn) = std::make_shared<const nlohmann::json>(std::move(context));
    scope_access::user(txn) = user;
    return guard;
}

context_guard checking_access(transaction& txn) { return set_context(txn, {{"_check_access", true}}); }
context_guard without_check_access(transaction& txn) { return set_context(txn, {{"_check_access", false}}); }
context_guard active_records(transaction& txn) { return set_context(txn, {{"active_test", true}}); }
context_guard inactive_records(transaction& txn) { return set_context(txn, {{"active_test", false}}); }

context_guard set_context(const nlohmann::json& values, const nlohmann::json& extra) {
    return set_context(current(), values, extra);
}
context_guard reset_context() { return reset_context(current()); }
user_guard set_user(std::int64_t user, bool set_context) { return set_user(current(), user, set_context); }
context_guard checking_access() { return checking_access(current()); }
context_guard without_check_access() { return without_check_access(current()); }
context_guard active_records() { return active_records(current()); }
context_guard inactive_records() { return inactive_records(current()); }

}  // namespace atrium
