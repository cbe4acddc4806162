#pragma once
// The transaction layer's fiber-local state: what SPEC §1.1 puts "per thread"
// but Atrium keeps per fiber (per request) — the transaction stack, the task
// queue and the default two-phase-commit manager. It lives in a slot of the
// fiber's context (fiber/context.hpp); code outside any fiber (tests, CLI)
// uses its thread's default context.

#include "database/database.hpp"
#include "fiber/context.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace atrium {

class transaction;
namespace tpc {
class transaction_manager;
}

class fiber_transactions final : public fiber::local_value {
public:
    fiber_transactions();
    ~fiber_transactions() override;

    /// References to started transactions, top = back (SPEC §1.1).
    std::vector<std::shared_ptr<transaction>>& stack() noexcept { return stack_; }
    /// Ids of background tasks queued during work (belongs to the fiber, SPEC §1.1).
    std::vector<std::int64_t>& tasks() noexcept { return tasks_; }
    /// The fiber's default Zope-style transaction manager (SPEC §2.1), created on first use.
    tpc::transaction_manager& manager();

    /// The limits of the call the fiber serves (set by the server with
    /// call_limits_scope): every transaction it begins ends its waits and
    /// statements at `deadline` at the latest and is cancelled with `cancel`.
    struct call_limits {
        db::deadline deadline{};
        std::shared_ptr<db::cancellation> cancel{};
    };
    call_limits& call() noexcept { return call_; }

    /// A fiber body must not return with transactions left on its stack.
    void check_body_finished() const override;

private:
    std::vector<std::shared_ptr<transaction>> stack_;
    std::vector<std::int64_t> tasks_;
    std::unique_ptr<tpc::transaction_manager> manager_;
    call_limits call_;
};

/// Sets the calling fiber's call limits (fiber_transactions::call()) for
/// its life, then puts the previous ones back.
class [[nodiscard]] call_limits_scope {
public:
    explicit call_limits_scope(fiber_transactions::call_limits limits);
    ~call_limits_scope();
    call_limits_scope(const call_limits_scope&) = delete;
    call_limits_scope& operator=(const call_limits_scope&) = delete;

private:
    fiber_transactions::call_limits previous_;
};

/// The earlier of two deadlines (none is later than any).
db::deadline earliest(const db::deadline& a, const db::deadline& b) noexcept;

/// The transaction state of `context` (by default the calling fiber's).
fiber_transactions& fiber_state(fiber::context& context = fiber::current());

/// Wait hooks for the database layer that wait through the current fiber
/// (so a busy SQLite database suspends the fiber, not its thread).
db::wait_hooks fiber_wait_hooks();

}  // namespace atrium
