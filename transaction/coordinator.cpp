#include "transaction/coordinator.hpp"
#include "transaction/txn_metrics.hpp"

#include "fiber/unwind.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"

// Every catch (...) in this file starts with fiber::rethrow_if_unwinding(),
// so a fiber being destroyed while it runs a commit unwinds instead of being
// swallowed by a failure path.

#include <algorithm>
#include <cxxabi.h>
#include <cstdlib>
#include <typeinfo>

namespace atrium::tpc {

namespace detail {

struct savepoint_entry {
    enum class kind { snapshot, unsupported, abort_dm };
    kind what;
    std::shared_ptr<data_manager> dm;
    std::unique_ptr<dm_savepoint> snapshot;  // kind::snapshot only
};

struct savepoint_state {
    coordinator* txn = nullptr;  // null = invalid
    int number = 0;
    std::vector<savepoint_entry> entries;
};

}  // namespace detail

namespace {

std::string describe_dm(const data_manager& dm) {
    std::string text;
    {
        int status = 0;
        const char* mangled = typeid(dm).name();
        std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                         std::free);
        text = status == 0 && demangled ? demangled.get() : mangled;
    }
    try {
        std::string key = dm.sort_key();
        if (!key.empty()) text.append(" '").append(key).append("'");
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // sort_key() failed: the type alone describes it (forced_unwind rethrown above).
    }
    return text;
}

std::vector<std::shared_ptr<data_manager>> sorted_by_key(const std::vector<std::shared_ptr<data_manager>>& dms) {
    std::vector<std::pair<std::string, std::shared_ptr<data_manager>>> keyed;
    keyed.reserve(dms.size());
    for (const auto& dm : dms) keyed.emplace_back(dm->sort_key(), dm);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::shared_ptr<data_manager>> ordered;
    ordered.reserve(keyed.size());
    for (auto& entry : keyed) ordered.push_back(std::move(entry.second));
    return ordered;
}

/// Calls `fn`; on failure logs "<describe()>: <error>" at `level` and returns the
/// error. The message is only built on failure. forced_unwind is rethrown.
template <class Describe, class Fn>
std::exception_ptr guarded(log_level level, Describe&& describe, Fn&& fn) {
    try {
        fn();
        return nullptr;
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // Log and continue (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        log_message(level, describe() + ": " + describe_exception(error));
        return error;
    }
}

/// Runs the current batch of hooks; hooks registered meanwhile form the next batch.
template <class Hook, class Call>
void drain(std::vector<Hook>& hooks, Call&& call) {
    while (!hooks.empty()) {
        std::vector<Hook> batch = std::move(hooks);
        hooks.clear();
        for (auto& hook : batch) call(hook);
    }
}

template <class Hook>
struct clear_on_exit {
    std::vector<Hook>& hooks;
    ~clear_on_exit() { hooks.clear(); }
};

}  // namespace

// ---------------------------------------------------------------------------
// status

std::string_view to_string(status s) noexcept {
    switch (s) {
        case status::active: return "Active";
        case status::committing: return "Committing";
        case status::committed: return "Committed";
        case status::doomed: return "Doomed";
        case status::commit_failed: return "Commit failed";
    }
    return "Unknown";
}

// ---------------------------------------------------------------------------
// synchronizer_set

void synchronizer_set::insert(const std::shared_ptr<synchronizer>& synch) {
    if (!synch) return;
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [](const std::weak_ptr<synchronizer>& w) { return w.expired(); });
    for (const auto& entry : entries_)
        if (entry.lock() == synch) return;
    entries_.push_back(synch);
}

void synchronizer_set::erase(const synchronizer* synch) {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [synch](const std::weak_ptr<synchronizer>& w) {
        auto live = w.lock();
        return !live || live.get() == synch;
    });
}

void synchronizer_set::clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
}

bool synchronizer_set::any() const {
    std::lock_guard lock(mutex_);
    return std::any_of(entries_.begin(), entries_.end(),
                       [](const std::weak_ptr<synchronizer>& w) { return !w.expired(); });
}

std::size_t synchronizer_set::size() const {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [](const std::weak_ptr<synchronizer>& w) { return w.expired(); });
    return entries_.size();
}

std::vector<std::shared_ptr<synchronizer>> synchronizer_set::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<synchronizer>> live;
    live.reserve(entries_.size());
    for (const auto& entry : entries_)
        if (auto s = entry.lock()) live.push_back(std::move(s));
    return live;
}

// ---------------------------------------------------------------------------
// savepoint handle

void savepoint::rollback() {
    std::shared_ptr<detail::savepoint_state> state = state_;  // keep alive during the rollback
    if (!state || !state->txn) throw invalid_savepoint_rollback_error("invalidated by a later savepoint");
    state->txn->rollback_savepoint(*state);
}

bool savepoint::valid() const noexcept { return state_ && state_->txn != nullptr; }

int savepoint::number() const noexcept { return state_ ? state_->number : 0; }

// ---------------------------------------------------------------------------
// coordinator

coordinator::coordinator(facade kind, std::shared_ptr<synchronizer_set> synchs)
    : kind_(kind), synchs_(std::move(synchs)) {}

coordinator::~coordinator() { invalidate_all_savepoints(); }

[[noreturn]] void coordinator::prior_operation_failed() const { throw transaction_failed_error(failure_); }

void coordinator::save_failure(std::string_view operation, const std::exception_ptr& error) {
    status_ = status::commit_failed;
    failure_.assign(operation).append(" failed: ").append(describe_exception(error));
}

// --- join ---

std::shared_ptr<data_manager> coordinator::join(std::shared_ptr<data_manager> dm) {
    if (!dm) throw value_error("join(): null data manager");
    if (status_ == status::commit_failed) prior_operation_failed();
    if (status_ == status::committed && kind_ == facade::tryton) status_ = status::active;  // next cycle
    if (status_ != status::active && status_ != status::doomed)
        throw value_error("expected txn status Active or Doomed, but it's " + std::string(to_string(status_)));
    for (const auto& registered : resources_)
        if (registered.get() == dm.get() || registered->equals(*dm)) return registered;
    resources_.push_back(dm);
    // §3.7: a DM joining after savepoints is rolled back by abort + unjoin.
    for (const auto& weak : savepoints_)
        if (auto state = weak.lock(); state && state->txn)
            state->entries.push_back({detail::savepoint_entry::kind::abort_dm, dm, nullptr});
    return dm;
}

void coordinator::unjoin(const data_manager* dm) noexcept {
    std::erase_if(resources_, [dm](const std::shared_ptr<data_manager>& r) { return r.get() == dm; });
}

// --- doom ---

void coordinator::doom() {
    if (status_ == status::doomed) return;
    if (status_ != status::active) throw value_error("non-doomable");
    status_ = status::doomed;
}

// --- hooks ---

void coordinator::add_before_commit_hook(before_commit_hook hook) {
    if (!hook) throw value_error("empty before-commit hook");
    before_commit_.push_back(std::move(hook));
}

void coordinator::add_after_commit_hook(after_commit_hook hook) {
    if (!hook) throw value_error("empty after-commit hook");
    after_commit_.push_back(std::move(hook));
}

void coordinator::add_before_abort_hook(before_abort_hook hook) {
    if (!hook) throw value_error("empty before-abort hook");
    before_abort_.push_back(std::move(hook));
}

void coordinator::add_after_abort_hook(after_abort_hook hook) {
    if (!hook) throw value_error("empty after-abort hook");
    after_abort_.push_back(std::move(hook));
}

void coordinator::run_before_commit_hooks() {
    // §3.3 step 4: an exception propagates and discards the remaining hooks.
    clear_on_exit<before_commit_hook> guard{before_commit_};
    drain(before_commit_, [](before_commit_hook& hook) { hook(); });
}

bool coordinator::run_after_commit_hooks(bool ok) {
    if (after_commit_.empty()) return false;
    clear_on_exit<after_commit_hook> guard{after_commit_};
    drain(after_commit_, [ok](after_commit_hook& hook) {
        guarded(log_level::error, [] { return std::string("error in after-commit hook"); }, [&] { hook(ok); });
    });
    return true;
}

void coordinator::run_before_abort_hooks() {
    clear_on_exit<before_abort_hook> guard{before_abort_};
    drain(before_abort_, [](before_abort_hook& hook) {
        guarded(log_level::error, [] { return std::string("error in before-abort hook"); }, [&] { hook(); });
    });
}

std::exception_ptr coordinator::run_after_abort_hooks(bool& ran) {
    ran = !after_abort_.empty();
    clear_on_exit<after_abort_hook> guard{after_abort_};
    try {
        drain(after_abort_, [](after_abort_hook& hook) { hook(); });
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // The first error skips the remaining hooks; the caller rethrows it
        // (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        log_error("error in after-abort hook: " + describe_exception(error));
        return error;
    }
    return nullptr;
}

void coordinator::sweep(const std::vector<std::shared_ptr<data_manager>>& dms) {
    for (const auto& dm : dms)
        guarded(
            log_level::error, [&] { return "error in abort() on data manager " + describe_dm(*dm) + " (post-hook sweep)"; },
            [&] { dm->abort(*this); });
}

// --- synchronizers ---

void coordinator::before_completion_or_throw() {
    if (!synchs_) return;
    for (const auto& s : synchs_->snapshot()) s->before_completion(*this);
}

std::exception_ptr coordinator::after_completion_guarded() {
    if (!synchs_) return nullptr;
    std::exception_ptr first;
    for (const auto& s : synchs_->snapshot()) {
        auto error = guarded(
            log_level::error, [] { return std::string("error in synchronizer after_completion"); },
            [&] { s->after_completion(*this); });
        if (error && !first) first = error;
    }
    return first;
}

// --- commit (§3.3) ---

void coordinator::cleanup_resources(const std::vector<std::shared_ptr<data_manager>>& ordered,
                                    const std::vector<const data_manager*>& voted) {
    for (const auto& dm : ordered) {
        if (std::find(voted.begin(), voted.end(), dm.get()) != voted.end()) continue;
        guarded(
            log_level::error, [&] { return "error in abort() on data manager " + describe_dm(*dm); },
            [&] { dm->abort(*this); });
    }
    for (const auto& dm : ordered)
        guarded(
            log_level::error, [&] { return "error in tpc_abort() on data manager " + describe_dm(*dm); },
            [&] { dm->tpc_abort(*this); });
}

void coordinator::commit(last_resource* main) {
    std::shared_ptr<void> keep = keep_alive();

    // 1–3.
    if (status_ == status::doomed) throw doomed_transaction();
    invalidate_all_savepoints();
    if (status_ == status::commit_failed) prior_operation_failed();
    if (status_ == status::committing) throw value_error("commit() called while the transaction is committing");

    // 4. Before-commit hooks: an error propagates, nothing else happens.
    run_before_commit_hooks();
    // 5. Tryton buffers (log records, consumed warnings).
    if (main) main->flush_buffers();
    // 6.
    before_completion_or_throw();
    status_ = status::committing;

    // 7–9. Phase 1 and the last resource.
    std::vector<std::shared_ptr<data_manager>> ordered;
    std::vector<const data_manager*> voted;
    try {
        ordered = sorted_by_key(resources_);
        for (const auto& dm : ordered) dm->tpc_begin(*this);
        for (const auto& dm : ordered) dm->commit(*this);
        for (const auto& dm : ordered) {
            dm->tpc_vote(*this);
            voted.push_back(dm.get());
        }
        if (main) main->commit_last_resource();
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // Nothing is durable yet (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        const auto& targets = ordered.empty() ? resources_ : ordered;  // the sort itself may have failed
        cleanup_resources(std::vector<std::shared_ptr<data_manager>>(targets), voted);
        if (main) main->rollback_last_resource();
        after_completion_guarded();
        save_failure("commit", error);
        if (run_after_commit_hooks(false)) sweep(std::vector<std::shared_ptr<data_manager>>(resources_));
        if (!targets.empty()) txn_metrics::get().tpc_rolled_back.add();
        if (kind_ == facade::tryton) resources_.clear();  // already rolled back; zope keeps them for abort()
        std::rethrow_exception(error);
    }

    // 10. Phase 2: every DM is finished, even after a failure.
    std::string finish_failures;
    for (const auto& dm : ordered) {
        auto error = guarded(
            log_level::critical,
            [&] {
                return "A storage error occurred during the second phase of the two-phase commit (tpc_finish on "
                       "data manager " + describe_dm(*dm) + "); resources may be in an inconsistent state";
            },
            [&] { dm->tpc_finish(*this); });
        if (error) {
            if (!finish_failures.empty()) finish_failures.append("; ");
            finish_failures.append(describe_dm(*dm)).append(": ").append(describe_exception(error));
        }
    }

    // 11.
    if (!ordered.empty()) (finish_failures.empty() ? txn_metrics::get().tpc_committed : txn_metrics::get().tpc_failed).add();
    status_ = status::committed;
    after_completion_guarded();
    if (run_after_commit_hooks(true)) sweep(std::vector<std::shared_ptr<data_manager>>(resources_));
    free_all();
    if (!finish_failures.empty() && kind_ == facade::zope)
        throw heuristic_commit_error("tpc_finish failed after the commit decision: " + finish_failures);
}

// --- abort (§3.4) ---

void coordinator::free_all() noexcept {
    on_detach();
    resources_.clear();
    before_commit_.clear();
    after_commit_.clear();
    before_abort_.clear();
    after_abort_.clear();
    invalidate_all_savepoints();
    on_free();
    // A Zope transaction shares its manager's live set: once freed it must not
    // see (or call) synchronizers registered later (Zope's _NoSynchronizers).
    if (kind_ == facade::zope) synchs_.reset();
    freed_ = true;
}

void coordinator::abort() {
    std::shared_ptr<void> keep = keep_alive();
    if (freed_ && resources_.empty() && before_commit_.empty() && after_commit_.empty() && before_abort_.empty() &&
        after_abort_.empty() && !has_savepoints())
        return;  // a second abort() is a no-op

    struct free_on_exit {  // 8. always free everything
        coordinator& self;
        ~free_on_exit() { self.free_all(); }
    } guard{*this};

    std::exception_ptr remembered;
    // 1.
    run_before_abort_hooks();
    // 2.
    invalidate_all_savepoints();
    // 3.
    if (synchs_) {
        for (const auto& s : synchs_->snapshot()) {
            auto error = guarded(
                log_level::error, [] { return std::string("error in synchronizer before_completion"); },
                [&] { s->before_completion(*this); });
            if (error && !remembered) remembered = error;
        }
    }
    // 4. Join order, no sorting.
    for (const auto& dm : std::vector<std::shared_ptr<data_manager>>(resources_)) {
        auto error = guarded(
            log_level::error, [&] { return "error in abort() on data manager " + describe_dm(*dm); },
            [&] { dm->abort(*this); });
        if (error && !remembered) remembered = error;
    }
    // 5.
    bool hooks_ran = false;
    std::exception_ptr hook_error = run_after_abort_hooks(hooks_ran);
    if (hooks_ran) sweep(std::vector<std::shared_ptr<data_manager>>(resources_));
    // 6. Detach first, then afterCompletion (side data still readable).
    on_detach();
    std::exception_ptr after_error = after_completion_guarded();
    // 7. (8. runs in the guard's destructor, before the exception leaves.)
    if (hook_error) std::rethrow_exception(hook_error);
    if (after_error) std::rethrow_exception(after_error);
    if (remembered) std::rethrow_exception(remembered);
}

void coordinator::rollback_tryton(last_resource* main) noexcept(false) {
    std::shared_ptr<void> keep = keep_alive();
    run_before_abort_hooks();
    before_commit_.clear();
    after_commit_.clear();
    invalidate_all_savepoints();
    std::vector<std::shared_ptr<data_manager>> dms = resources_;
    for (const auto& dm : dms)
        guarded(
            log_level::error, [&] { return "error in tpc_abort() on data manager " + describe_dm(*dm); },
            [&] { dm->tpc_abort(*this); });
    resources_.clear();
    if (main) main->rollback_last_resource();
    if (status_ != status::doomed) {
        status_ = status::active;
        failure_.clear();
    }
    bool hooks_ran = false;
    std::exception_ptr hook_error = run_after_abort_hooks(hooks_ran);
    if (hooks_ran) sweep(dms);
    if (hook_error) std::rethrow_exception(hook_error);
}

std::string coordinator::new_gid() const { return gid_source_ ? gid_source_() : tpc::new_gid(); }

void coordinator::reset() noexcept {
    invalidate_all_savepoints();
    resources_.clear();
    before_commit_.clear();
    after_commit_.clear();
    before_abort_.clear();
    after_abort_.clear();
    status_ = status::active;
    failure_.clear();
    freed_ = false;
    savepoint_counter_ = 0;
}

// --- savepoints (§3.7) ---

tpc::savepoint coordinator::savepoint(bool optimistic) {
    if (status_ == status::commit_failed) prior_operation_failed();
    auto state = std::make_shared<detail::savepoint_state>();
    try {
        for (const auto& dm : resources_) {
            std::unique_ptr<dm_savepoint> snapshot;
            if (dm->supports_savepoints()) snapshot = dm->savepoint();
            if (snapshot) {
                state->entries.push_back({detail::savepoint_entry::kind::snapshot, dm, std::move(snapshot)});
            } else if (optimistic) {
                state->entries.push_back({detail::savepoint_entry::kind::unsupported, dm, nullptr});
            } else {
                throw type_error("Savepoints unsupported: " + describe_dm(*dm));
            }
        }
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // Commit-failure clean-up (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        cleanup_resources(std::vector<std::shared_ptr<data_manager>>(resources_), {});
        save_failure("savepoint", error);
        std::rethrow_exception(error);
    }
    state->txn = this;
    state->number = ++savepoint_counter_;
    std::erase_if(savepoints_, [](const std::weak_ptr<detail::savepoint_state>& w) { return w.expired(); });
    savepoints_.push_back(state);
    return tpc::savepoint(std::move(state));
}

bool coordinator::has_savepoints() const noexcept {
    return std::any_of(savepoints_.begin(), savepoints_.end(), [](const std::weak_ptr<detail::savepoint_state>& w) {
        auto state = w.lock();
        return state && state->txn;
    });
}

void coordinator::invalidate_all_savepoints() noexcept {
    for (const auto& weak : savepoints_)
        if (auto state = weak.lock()) state->txn = nullptr;
    savepoints_.clear();
}

void coordinator::invalidate_savepoints_after(int number) noexcept {
    std::erase_if(savepoints_, [number](const std::weak_ptr<detail::savepoint_state>& w) {
        auto state = w.lock();
        if (!state) return true;
        if (state->number > number) {
            state->txn = nullptr;
            return true;
        }
        return false;
    });
}

void coordinator::rollback_savepoint(detail::savepoint_state& state) {
    invalidate_savepoints_after(state.number);
    try {
        // Index loop: a rollback may re-join a DM, which appends to `entries`.
        for (std::size_t i = 0; i < state.entries.size(); ++i) {
            const auto kind = state.entries[i].what;
            std::shared_ptr<data_manager> dm = state.entries[i].dm;
            switch (kind) {
                case detail::savepoint_entry::kind::snapshot:
                    state.entries[i].snapshot->rollback();
                    break;
                case detail::savepoint_entry::kind::unsupported:
                    throw type_error("Savepoints unsupported: " + describe_dm(*dm));
                case detail::savepoint_entry::kind::abort_dm:
                    dm->abort(*this);
                    unjoin(dm.get());
                    break;
            }
        }
    } catch (...) {
        fiber::rethrow_if_unwinding();
        // Mark the transaction failed (forced_unwind was rethrown above).
        std::exception_ptr error = std::current_exception();
        save_failure("savepoint rollback", error);
        std::rethrow_exception(error);
    }
}

}  // namespace atrium::tpc
