#pragma once
// The Zope-style facade of SPEC §2: tpc::zope_transaction (a coordinator with
// facade::zope plus the metadata and side data of §2.3) and
// tpc::transaction_manager (begin/get/commit/abort, explicit mode,
// synchronizers, RAII scope). Each fiber has a default manager:
// tpc::current_manager() (the fiber::context's, SPEC §2.1).

#include "transaction/coordinator.hpp"

#include <nlohmann/json.hpp>

#include <any>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace atrium::tpc {

class transaction_manager;

/// A Zope-style transaction. Always owned by a std::shared_ptr (the manager
/// creates them). DMs and synchronizers receive it as `coordinator&`; use
/// as_transaction() to get back here.
class zope_transaction final : public coordinator, public std::enable_shared_from_this<zope_transaction> {
public:
    /// `manager` (may be null) is detached from on commit/abort (transaction_manager::free).
    explicit zope_transaction(std::shared_ptr<synchronizer_set> synchs = nullptr, transaction_manager* manager = nullptr);
    ~zope_transaction() override;

    /// The manager this transaction is current in; null once freed.
    transaction_manager* manager() const noexcept { return manager_; }

    // --- §2.3 metadata ---

    /// nullopt is ignored; the trimmed text is appended to description, after "\n"
    /// when description is non-empty.
    void note(std::optional<std::string_view> text);
    const std::string& description() const noexcept { return description_; }
    /// nullopt is ignored.
    void set_description(std::optional<std::string> text);
    const std::string& user() const noexcept { return user_; }
    /// The `user` attribute setter: nullopt ⇒ value_error.
    void set_user_value(std::optional<std::string> value);
    /// user = path + " " + name.
    void set_user(std::string_view name, std::string_view path = "/");
    /// extension[name] = value (overwrites).
    void set_extended_info(const std::string& name, nlohmann::json value);
    const nlohmann::json& extension() const noexcept { return extension_; }
    nlohmann::json& extension() noexcept { return extension_; }

    // --- §2.3 side data, keyed by object identity ---

    void set_data(const void* key, std::any value);
    /// Missing ⇒ key_error. Discarded when the transaction is freed (after commit/abort),
    /// still readable in after_completion during abort.
    std::any& data(const void* key);
    const std::any& data(const void* key) const;
    template <class T>
    T& data_as(const void* key) {
        return std::any_cast<T&>(data(key));
    }
    bool has_data(const void* key) const noexcept { return data_.find(key) != data_.end(); }

private:
    friend class transaction_manager;
    std::shared_ptr<void> keep_alive() noexcept override;
    void on_detach() noexcept override;
    void on_free() noexcept override;

    transaction_manager* manager_;
    std::string description_;
    std::string user_;
    nlohmann::json extension_ = nlohmann::json::object();
    std::unordered_map<const void*, std::any> data_;
};

/// The Zope facade behind a coordinator&, or nullptr (e.g. a Tryton transaction).
zope_transaction* as_transaction(coordinator& txn) noexcept;

class manager_scope;

/// SPEC §2.1. Not thread-safe (one per fiber), except unregistering synchronizers.
class transaction_manager {
public:
    explicit transaction_manager(bool explicit_mode = false);
    /// Detaches (does not abort) the current transaction.
    ~transaction_manager();
    transaction_manager(const transaction_manager&) = delete;
    transaction_manager& operator=(const transaction_manager&) = delete;

    bool explicit_mode() const noexcept { return explicit_; }

    /// Explicit mode with a current txn ⇒ already_in_transaction; implicit ⇒ aborts it
    /// first. Makes a new txn current, then calls new_transaction on every synchronizer.
    std::shared_ptr<zope_transaction> begin();
    /// The current txn; none ⇒ explicit: no_transaction; implicit: creates one silently.
    std::shared_ptr<zope_transaction> get();
    /// The current txn or null; never creates.
    std::shared_ptr<zope_transaction> current() const noexcept { return current_; }

    void commit();
    void abort();
    void doom();
    bool is_doomed();
    tpc::savepoint savepoint(bool optimistic = false);

    /// Called by the txn when it ends: `txn` must be current, else value_error("Foreign transaction").
    void free(zope_transaction& txn);

    /// Weakly held; with a current txn, new_transaction(current) is called at once.
    void register_synch(const std::shared_ptr<synchronizer>& synch);
    void unregister_synch(const std::shared_ptr<synchronizer>& synch);
    void unregister_synch(const synchronizer* synch);
    void clear_synchs();
    bool registered_synchs() const;
    /// The live set shared with every transaction of this manager.
    const std::shared_ptr<synchronizer_set>& synchs() const noexcept { return synchs_; }

    /// enter = begin(); exit = commit() on normal exit, abort() when an exception propagates.
    [[nodiscard]] manager_scope scope();

private:
    bool explicit_;
    std::shared_ptr<synchronizer_set> synchs_;
    std::shared_ptr<zope_transaction> current_;
};

/// RAII transaction scope (SPEC §2.1 "Scope"). The destructor commits and may
/// therefore throw (it is noexcept(false)); when the scope is left by an
/// exception it aborts instead, logs any abort error and lets the original
/// exception propagate.
class [[nodiscard]] manager_scope {
public:
    explicit manager_scope(transaction_manager& manager);
    ~manager_scope() noexcept(false);
    manager_scope(const manager_scope&) = delete;
    manager_scope& operator=(const manager_scope&) = delete;

    /// The transaction begun on entry.
    zope_transaction& txn() const noexcept { return *txn_; }
    const std::shared_ptr<zope_transaction>& get() const noexcept { return txn_; }

    /// Ends the scope now: manager.commit() (commit = true) or manager.abort(),
    /// errors propagating; the destructor then does nothing. Prefer it on fibers:
    /// std::uncaught_exceptions() is per thread, so a fiber resumed while
    /// another fiber of the thread unwinds would see an exception in flight.
    void close(bool commit);
    bool closed() const noexcept { return closed_; }

private:
    transaction_manager& manager_;
    std::shared_ptr<zope_transaction> txn_;
    int uncaught_;
    bool closed_ = false;
};

/// The calling fiber's default manager (fiber_state().manager()).
transaction_manager& current_manager();

}  // namespace atrium::tpc
