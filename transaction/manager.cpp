#include "transaction/manager.hpp"

#include "fiber/unwind.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "util/text.hpp"

// The catch (...) in manager_scope's destructor rethrows forced_unwind first
// (fiber::rethrow_if_unwinding).

#include <exception>
#include <sstream>

namespace atrium::tpc {

namespace {

[[noreturn]] void throw_missing_key(const void* key) {
    std::ostringstream text;
    text << "KeyError(" << key << ")";
    throw key_error(text.str());
}

}  // namespace

// ---------------------------------------------------------------------------
// transaction

zope_transaction::zope_transaction(std::shared_ptr<synchronizer_set> synchs, transaction_manager* manager)
    : coordinator(facade::zope, std::move(synchs)), manager_(manager) {}

zope_transaction::~zope_transaction() = default;

std::shared_ptr<void> zope_transaction::keep_alive() noexcept { return weak_from_this().lock(); }

void zope_transaction::on_detach() noexcept {
    transaction_manager* manager = manager_;
    manager_ = nullptr;
    if (!manager) return;
    try {
        manager->free(*this);
    } catch (const std::exception& e) {
        // "Foreign transaction": the manager has moved on; nothing to detach.
        log_error(std::string("detaching a transaction from its manager: ") + e.what());
    }
}

void zope_transaction::on_free() noexcept { data_.clear(); }

void zope_transaction::note(std::optional<std::string_view> text) {
    if (!text) return;
    const std::string_view trimmed = util::trim(*text);
    if (!description_.empty()) description_.push_back('\n');
    description_.append(trimmed);
}

void zope_transaction::set_description(std::optional<std::string> text) {
    if (text) description_ = std::move(*text);
}

void zope_transaction::set_user_value(std::optional<std::string> value) {
    if (!value) throw value_error("User must be a string, not null");
    user_ = std::move(*value);
}

void zope_transaction::set_user(std::string_view name, std::string_view path) {
    std::string value(path);
    value.push_back(' ');
    value.append(name);
    user_ = std::move(value);
}

void zope_transaction::set_extended_info(const std::string& name, nlohmann::json value) {
    extension_[name] = std::move(value);
}

void zope_transaction::set_data(const void* key, std::any value) { data_[key] = std::move(value); }

std::any& zope_transaction::data(const void* key) {
    auto found = data_.find(key);
    if (found == data_.end()) throw_missing_key(key);
    return found->second;
}

const std::any& zope_transaction::data(const void* key) const {
    auto found = data_.find(key);
    if (found == data_.end()) throw_missing_key(key);
    return found->second;
}

zope_transaction* as_transaction(coordinator& txn) noexcept { return dynamic_cast<zope_transaction*>(&txn); }

// ---------------------------------------------------------------------------
// transaction_manager

transaction_manager::transaction_manager(bool explicit_mode)
    : explicit_(explicit_mode), synchs_(std::make_shared<synchronizer_set>()) {}

transaction_manager::~transaction_manager() {
    if (current_) current_->manager_ = nullptr;
}

std::shared_ptr<zope_transaction> transaction_manager::begin() {
    if (current_) {
        if (explicit_) throw already_in_transaction();
        std::shared_ptr<zope_transaction> previous = current_;
        previous->abort();  // frees it: current_ becomes null
        if (current_ == previous) {  // defensive: it could not detach
            previous->manager_ = nullptr;
            current_.reset();
        }
    }
    auto txn = std::make_shared<zope_transaction>(synchs_, this);
    current_ = txn;
    for (const auto& s : synchs_->snapshot()) s->new_transaction(*txn);
    return txn;
}

std::shared_ptr<zope_transaction> transaction_manager::get() {
    if (!current_) {
        if (explicit_) throw no_transaction();
        current_ = std::make_shared<zope_transaction>(synchs_, this);  // silently: no new_transaction
    }
    return current_;
}

void transaction_manager::commit() { get()->commit(); }

void transaction_manager::abort() { get()->abort(); }

void transaction_manager::doom() { get()->doom(); }

bool transaction_manager::is_doomed() { return get()->is_doomed(); }

tpc::savepoint transaction_manager::savepoint(bool optimistic) { return get()->savepoint(optimistic); }

void transaction_manager::free(zope_transaction& txn) {
    if (current_.get() != &txn) throw value_error("Foreign transaction");
    txn.manager_ = nullptr;
    std::shared_ptr<zope_transaction> released = std::move(current_);
    current_.reset();
    // `released` may be the last owner; the caller keeps the txn alive while it runs.
}

void transaction_manager::register_synch(const std::shared_ptr<synchronizer>& synch) {
    if (!synch) throw value_error("register_synch(): null synchronizer");
    synchs_->insert(synch);
    if (current_) synch->new_transaction(*current_);
}

void transaction_manager::unregister_synch(const std::shared_ptr<synchronizer>& synch) { synchs_->erase(synch); }

void transaction_manager::unregister_synch(const synchronizer* synch) { synchs_->erase(synch); }

void transaction_manager::clear_synchs() { synchs_->clear(); }

bool transaction_manager::registered_synchs() const { return synchs_->any(); }

manager_scope transaction_manager::scope() { return manager_scope(*this); }

// ---------------------------------------------------------------------------
// manager_scope

manager_scope::manager_scope(transaction_manager& manager)
    : manager_(manager), txn_(manager.begin()), uncaught_(std::uncaught_exceptions()) {}

void manager_scope::close(bool commit) {
    if (closed_) throw value_error("transaction scope already closed");
    closed_ = true;
    if (commit)
        manager_.commit();
    else
        manager_.abort();
}

manager_scope::~manager_scope() noexcept(false) {
    if (closed_) return;
    closed_ = true;
    if (std::uncaught_exceptions() > uncaught_) {
        // Leaving by an exception: abort; the original exception propagates.
        try {
            manager_.abort();
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // Logged, not thrown: we are already unwinding (forced_unwind rethrown above).
            log_error("abort at the end of a transaction scope left by an exception failed: " +
                      describe_exception(std::current_exception()));
        }
        return;
    }
    manager_.commit();
}

// ---------------------------------------------------------------------------

transaction_manager& current_manager() { return fiber_state().manager(); }

}  // namespace atrium::tpc
