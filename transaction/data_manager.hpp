#pragma once
// The data-manager contract of SPEC §3.1: an external participant in
// two-phase commit. Every terminal method (tpc_abort, abort, tpc_finish) must
// be idempotent: failure paths call them more than once.

#include <exception>
#include <memory>
#include <string>

namespace atrium::tpc {

class coordinator;

/// A data manager's snapshot; rollback() restores it and may be repeated.
class dm_savepoint {
public:
    virtual ~dm_savepoint() = default;
    virtual void rollback() = 0;
};

class data_manager {
public:
    virtual ~data_manager() = default;

    /// Global commit order (stable sort; equal keys keep join order).
    virtual std::string sort_key() const { return {}; }

    virtual void tpc_begin(coordinator& txn) = 0;
    virtual void commit(coordinator& txn) = 0;
    /// Last chance to refuse (throw = no); after success the DM must be able to finish.
    virtual void tpc_vote(coordinator& txn) = 0;
    /// Makes the changes durable; should never fail.
    virtual void tpc_finish(coordinator& txn) = 0;
    /// Abandons, during or outside 2PC. Idempotent.
    virtual void tpc_abort(coordinator& txn) = 0;
    /// Abandons outside 2PC. Idempotent.
    virtual void abort(coordinator& txn) = 0;

    virtual bool supports_savepoints() const { return false; }
    /// Only called when supports_savepoints().
    virtual std::unique_ptr<dm_savepoint> savepoint() { return nullptr; }

    /// Classifies an error as transient (SPEC §3.8).
    virtual bool should_retry(const std::exception_ptr&) const { return false; }

    /// Join de-duplication (SPEC §3.2); the default is identity.
    virtual bool equals(const data_manager& other) const { return this == &other; }
};

}  // namespace atrium::tpc
