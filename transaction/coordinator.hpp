#pragma once
// The shared core of one transaction for two-phase commit (SPEC §2.2, §3):
// joined data managers, status, hooks, savepoints, doom, synchronizer
// notification and THE commit algorithm of §3.3 (single source of truth).
//
// Two facades use it:
//  * the Zope-style tpc::zope_transaction (transaction/manager.hpp), facade::zope;
//  * the Tryton-style atrium::transaction (transaction/transaction.hpp), which
//    passes its main database connection as the `last_resource` and uses
//    facade::tryton (no synchronizers, rollback_tryton(), reset()).
//
// Differences between the facades inside commit():
//  * tryton: a failed commit empties the DM list (everything was rolled back);
//    a tpc_finish failure is logged critically and not thrown;
//    a committed core starts a new cycle on the next join()/commit().
//  * zope: a failed commit keeps the DMs for the mandatory abort();
//    a tpc_finish failure ends COMMITTED and throws heuristic_commit_error
//    after the after-commit hooks.
//
// Not thread-safe: one transaction belongs to one fiber.

#include "transaction/data_manager.hpp"
#include "transaction/errors.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace atrium::tpc {

enum class status { active, committing, committed, doomed, commit_failed };

/// "Active", "Committing", "Committed", "Doomed", "Commit failed".
std::string_view to_string(status s) noexcept;

enum class facade { zope, tryton };

/// The main database connection of a Tryton transaction: committed last, inside phase 1.
class last_resource {
public:
    virtual ~last_resource() = default;
    /// §3.3 step 5 (Tryton: flush buffered log records, delete consumed warnings, clear buffers).
    virtual void flush_buffers() {}
    /// §3.3 step 9 (reset started_at, clear record caches, publish invalidations, COMMIT).
    virtual void commit_last_resource() = 0;
    /// Failure path step 3 / §3.4 Tryton rollback (ROLLBACK, clear caches and buffers).
    virtual void rollback_last_resource() noexcept = 0;
};

/// SPEC §3.6. Every callback receives the transaction being completed.
class synchronizer {
public:
    virtual ~synchronizer() = default;
    /// On begin() of the manager (and at once on late registration).
    virtual void new_transaction(coordinator&) {}
    /// At the start of commit and abort.
    virtual void before_completion(coordinator&) {}
    /// At the end of commit (manager still attached) and abort (manager detached).
    virtual void after_completion(coordinator&) {}
};

/// The live set of synchronizers shared by a manager and all its transactions.
/// Holds them weakly (an expired synchronizer silently disappears); iteration
/// is in registration order; registering twice keeps one entry. Thread-safe,
/// so a shutdown path on another thread can unregister.
class synchronizer_set {
public:
    /// Adds `synch` unless already present. Null is ignored.
    void insert(const std::shared_ptr<synchronizer>& synch);
    /// Removes `synch` if present (no error otherwise).
    void erase(const synchronizer* synch);
    void erase(const std::shared_ptr<synchronizer>& synch) { erase(synch.get()); }
    void clear();
    /// True if at least one live synchronizer is registered.
    bool any() const;
    std::size_t size() const;
    /// The live synchronizers, registration order (strong references for the call).
    std::vector<std::shared_ptr<synchronizer>> snapshot() const;

private:
    mutable std::mutex mutex_;
    mutable std::vector<std::weak_ptr<synchronizer>> entries_;
};

class coordinator;

namespace detail {
struct savepoint_state;
}

/// A transaction savepoint (SPEC §3.7): a copyable handle. The transaction
/// only holds it weakly; dropping every handle forgets the savepoint.
class savepoint {
public:
    savepoint() = default;  // an invalid savepoint
    /// Restores every joined DM to this savepoint; invalidates later savepoints;
    /// stays valid (repeatable). Invalid ⇒ invalid_savepoint_rollback_error;
    /// a DM failure ⇒ the transaction is COMMITFAILED and the error is rethrown.
    void rollback();
    /// False after commit, abort, or invalidation by the rollback of an earlier savepoint.
    bool valid() const noexcept;
    /// 1, 2, … per transaction; 0 for a default-constructed savepoint.
    int number() const noexcept;

private:
    friend class coordinator;
    explicit savepoint(std::shared_ptr<detail::savepoint_state> state) : state_(std::move(state)) {}
    std::shared_ptr<detail::savepoint_state> state_;
};

class coordinator {
public:
    using before_commit_hook = std::function<void()>;
    using after_commit_hook = std::function<void(bool)>;  // receives the commit status first
    using before_abort_hook = std::function<void()>;
    using after_abort_hook = std::function<void()>;

    explicit coordinator(facade kind, std::shared_ptr<synchronizer_set> synchs = nullptr);
    virtual ~coordinator();
    coordinator(const coordinator&) = delete;
    coordinator& operator=(const coordinator&) = delete;

    facade kind() const noexcept { return kind_; }
    status state() const noexcept { return status_; }
    /// The saved description of the failure that made the status COMMITFAILED ("" otherwise).
    const std::string& failure_description() const noexcept { return failure_; }
    const std::shared_ptr<synchronizer_set>& synchronizers() const noexcept { return synchs_; }

    // --- §3.2 join ---

    /// COMMITFAILED ⇒ transaction_failed_error; not ACTIVE/DOOMED ⇒ value_error
    /// (tryton: a COMMITTED core starts a new cycle instead). If a registered DM is
    /// the same object or equals() it, returns the registered one and adds nothing;
    /// otherwise appends `dm` and returns it. Callers MUST use the returned pointer.
    std::shared_ptr<data_manager> join(std::shared_ptr<data_manager> dm);
    /// The joined DMs in join order.
    const std::vector<std::shared_ptr<data_manager>>& resources() const noexcept { return resources_; }

    // --- §3.3 commit ---

    /// The whole commit algorithm. `main` is the last resource (Tryton transactions).
    /// Throws doomed_transaction, transaction_failed_error, value_error (commit
    /// while COMMITTING), a hook's/synchronizer's error, or the error of the
    /// failing DM / last resource after the clean-up; zope: heuristic_commit_error
    /// after a tpc_finish failure (the transaction is then COMMITTED).
    void commit(last_resource* main = nullptr);

    // --- §3.4 rollback / abort ---

    /// Zope facade abort (all eight steps). A second abort() is a no-op.
    /// Does not change the status.
    void abort();
    /// Tryton facade rollback: before-abort hooks (guarded), discard commit hooks,
    /// invalidate savepoints, tpc_abort on each DM in join order (guarded, logged),
    /// empty the DM list, main->rollback_last_resource(), after-abort hooks (first
    /// error propagates after everything else ran; sweep over the former DMs).
    /// Status returns to ACTIVE (the next cycle) unless DOOMED. The caller clears its own caches.
    void rollback_tryton(last_resource* main) noexcept(false);

    /// Back to a fresh ACTIVE state: no DMs, hooks, savepoints, failure; savepoint
    /// numbering restarts. Calls nobody. (The Tryton transaction reuses one core.)
    /// The gid source stays.
    void reset() noexcept;

    // --- two-phase commit recovery (transaction/recovery.hpp) ---

    /// A new gid for a recoverable data manager joining this transaction: the
    /// gid source's (a Tryton transaction names its main database, which holds
    /// the decision record), else an old-format gid naming no database.
    std::string new_gid() const;
    /// Set by the owner of the decision records (the Tryton transaction).
    void set_gid_source(std::function<std::string()> source) { gid_source_ = std::move(source); }

    // --- §2.2 doom ---

    /// ACTIVE → DOOMED; DOOMED → no-op; otherwise value_error("non-doomable").
    void doom();
    bool is_doomed() const noexcept { return status_ == status::doomed; }

    // --- §3.5 hooks ---

    void add_before_commit_hook(before_commit_hook hook);
    void add_after_commit_hook(after_commit_hook hook);
    void add_before_abort_hook(before_abort_hook hook);
    void add_after_abort_hook(after_abort_hook hook);

    /// Hooks with bound arguments: hook(args...) (after-commit: hook(ok, args...)).
    template <class F, class... Args>
        requires(sizeof...(Args) > 0)
    void add_before_commit_hook(F&& f, Args&&... args) {
        add_before_commit_hook(before_commit_hook(bind_args(std::forward<F>(f), std::forward<Args>(args)...)));
    }
    template <class F, class... Args>
        requires(sizeof...(Args) > 0)
    void add_after_commit_hook(F&& f, Args&&... args) {
        add_after_commit_hook(after_commit_hook(
            [f = std::forward<F>(f), ... args = std::forward<Args>(args)](bool ok) mutable {
                std::invoke(f, ok, args...);
            }));
    }
    template <class F, class... Args>
        requires(sizeof...(Args) > 0)
    void add_before_abort_hook(F&& f, Args&&... args) {
        add_before_abort_hook(before_abort_hook(bind_args(std::forward<F>(f), std::forward<Args>(args)...)));
    }
    template <class F, class... Args>
        requires(sizeof...(Args) > 0)
    void add_after_abort_hook(F&& f, Args&&... args) {
        add_after_abort_hook(after_abort_hook(bind_args(std::forward<F>(f), std::forward<Args>(args)...)));
    }

    /// Registered, not yet run hooks in registration order.
    const std::vector<before_commit_hook>& before_commit_hooks() const noexcept { return before_commit_; }
    const std::vector<after_commit_hook>& after_commit_hooks() const noexcept { return after_commit_; }
    const std::vector<before_abort_hook>& before_abort_hooks() const noexcept { return before_abort_; }
    const std::vector<after_abort_hook>& after_abort_hooks() const noexcept { return after_abort_; }

    // --- §3.7 savepoints ---

    /// COMMITFAILED ⇒ transaction_failed_error. A DM without savepoint support:
    /// optimistic ⇒ a placeholder whose rollback throws type_error("Savepoints
    /// unsupported…"); otherwise abort + tpc_abort on every DM (guarded), status
    /// COMMITFAILED, and that type_error is thrown. Same clean-up if a DM's savepoint() throws.
    tpc::savepoint savepoint(bool optimistic = false);
    /// True while at least one valid savepoint handle is alive.
    bool has_savepoints() const noexcept;

protected:
    /// Keeps the most-derived object alive during commit()/abort() (a manager may
    /// drop the last owning reference when the transaction is freed).
    virtual std::shared_ptr<void> keep_alive() noexcept { return nullptr; }
    /// Detach from the owning manager (§3.3 step 11 "free", §3.4 step 6). Must not throw.
    virtual void on_detach() noexcept {}
    /// Drop side data when the transaction is freed (after on_detach). Must not throw.
    virtual void on_free() noexcept {}

private:
    friend class tpc::savepoint;

    template <class F, class... Args>
    static auto bind_args(F&& f, Args&&... args) {
        return [f = std::forward<F>(f), ... args = std::forward<Args>(args)]() mutable { std::invoke(f, args...); };
    }

    [[noreturn]] void prior_operation_failed() const;
    void save_failure(std::string_view operation, const std::exception_ptr& error);
    void invalidate_all_savepoints() noexcept;
    void invalidate_savepoints_after(int number) noexcept;
    void rollback_savepoint(detail::savepoint_state& state);
    void unjoin(const data_manager* dm) noexcept;
    /// Failure clean-up of §3.3 items 1–2: abort on DMs that did not vote, tpc_abort on all.
    void cleanup_resources(const std::vector<std::shared_ptr<data_manager>>& ordered,
                           const std::vector<const data_manager*>& voted);
    void run_before_commit_hooks();
    /// Runs after-commit hooks (errors logged); returns true if any ran.
    bool run_after_commit_hooks(bool ok);
    /// Runs before-abort hooks (errors logged).
    void run_before_abort_hooks();
    /// Runs after-abort hooks; returns the first error (remaining hooks skipped).
    std::exception_ptr run_after_abort_hooks(bool& ran);
    /// The post-hook clean-up sweep: abort(txn) on each DM (guarded), join order.
    void sweep(const std::vector<std::shared_ptr<data_manager>>& dms);
    /// before_completion on every synchronizer; the first error propagates.
    void before_completion_or_throw();
    /// after_completion on every synchronizer, guarded; returns the first error.
    std::exception_ptr after_completion_guarded();
    void free_all() noexcept;

    facade kind_;
    std::shared_ptr<synchronizer_set> synchs_;
    status status_ = status::active;
    std::string failure_;
    bool freed_ = false;  // a completed abort/commit freed everything: the next abort() is a no-op
    std::vector<std::shared_ptr<data_manager>> resources_;
    std::vector<before_commit_hook> before_commit_;
    std::vector<after_commit_hook> after_commit_;
    std::vector<before_abort_hook> before_abort_;
    std::vector<after_abort_hook> after_abort_;
    std::vector<std::weak_ptr<detail::savepoint_state>> savepoints_;
    int savepoint_counter_ = 0;
    std::function<std::string()> gid_source_;
};

}  // namespace atrium::tpc
