#pragma once
// Test doubles for the two-phase-commit machinery (SPEC §3), shared by every
// suite: a data manager, a last resource and a synchronizer that append
// "<name>.<method>" entries to one shared call log, with configurable failures;
// and log_capture, which records atrium::log_* messages.
//
//   auto log = std::make_shared<test::call_log>();
//   auto a = test::recording_data_manager::make("a", log);
//   a->fail_at("tpc_vote");                  // throws std::runtime_error("a.tpc_vote failed")
//   txn.join(a); txn.commit();               // *log == {"a.tpc_begin", "a.commit", "a.tpc_vote", ...}

#include "transaction/coordinator.hpp"
#include "transaction/logging.hpp"

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::test {

using call_log = std::vector<std::string>;

/// Failure configuration shared by the doubles.
class failure_plan {
public:
    /// `method` throws `error` (default: std::runtime_error("<name>.<method> failed"))
    /// for the next `times` calls (< 0 = always). The call is logged before it throws.
    void fail_at(std::string method, std::exception_ptr error = nullptr, int times = -1);
    void clear() { plans_.clear(); }
    /// Throws if `method` is planned to fail.
    void check(const std::string& name, const std::string& method);

private:
    struct plan {
        std::exception_ptr error;
        int times;
    };
    std::map<std::string, plan, std::less<>> plans_;
};

/// A data manager that records its calls. Methods (log entry "<name>.<method>",
/// failure key "<method>"): tpc_begin, commit, tpc_vote, tpc_finish, tpc_abort,
/// abort, savepoint, savepoint_rollback, should_retry (only when a predicate is set).
/// It holds an int value that savepoints snapshot and restore.
class recording_data_manager : public tpc::data_manager,
                               public std::enable_shared_from_this<recording_data_manager> {
public:
    recording_data_manager(std::string name, std::shared_ptr<call_log> log, std::string sort_key = {});
    static std::shared_ptr<recording_data_manager> make(std::string name, std::shared_ptr<call_log> log,
                                                        std::string sort_key = {});

    const std::string& name() const noexcept { return name_; }
    const std::shared_ptr<call_log>& log() const noexcept { return log_; }

    // --- configuration (chainable) ---
    recording_data_manager& fail_at(std::string method, std::exception_ptr error = nullptr, int times = -1);
    recording_data_manager& clear_failures();
    recording_data_manager& set_sort_key(std::string key);
    /// Savepoint support (off by default: then supports_savepoints() is false).
    recording_data_manager& enable_savepoints(bool on = true);
    recording_data_manager& set_should_retry(std::function<bool(const std::exception_ptr&)> predicate);
    /// Overrides equals(); without it (and without an equality key) equals() is identity.
    recording_data_manager& set_equals(std::function<bool(const tpc::data_manager&)> predicate);
    /// Equal to any recording_data_manager with the same non-empty key.
    recording_data_manager& set_equality_key(std::string key);

    // --- state for savepoint tests ---
    int value() const noexcept { return value_; }
    void set_value(int value) noexcept { value_ = value; }
    /// set_value + join `txn` (using the DM the join returns); returns that DM.
    std::shared_ptr<tpc::data_manager> change(tpc::coordinator& txn, int value);

    // --- inspection ---
    /// Number of calls of `method` (failed calls included).
    int calls(std::string_view method) const;
    /// The transaction passed to the last tpc_*/commit/abort call.
    const tpc::coordinator* last_transaction() const noexcept { return last_txn_; }

    // --- tpc::data_manager ---
    std::string sort_key() const override { return sort_key_; }
    void tpc_begin(tpc::coordinator& txn) override { record(txn, "tpc_begin"); }
    void commit(tpc::coordinator& txn) override { record(txn, "commit"); }
    void tpc_vote(tpc::coordinator& txn) override { record(txn, "tpc_vote"); }
    void tpc_finish(tpc::coordinator& txn) override { record(txn, "tpc_finish"); }
    void tpc_abort(tpc::coordinator& txn) override { record(txn, "tpc_abort"); }
    void abort(tpc::coordinator& txn) override { record(txn, "abort"); }
    bool supports_savepoints() const override { return savepoints_; }
    std::unique_ptr<tpc::dm_savepoint> savepoint() override;
    bool should_retry(const std::exception_ptr& error) const override;
    bool equals(const tpc::data_manager& other) const override;

private:
    class snapshot;
    void record(tpc::coordinator& txn, const std::string& method);
    void record(const std::string& method);

    std::string name_;
    std::shared_ptr<call_log> log_;
    std::string sort_key_;
    bool savepoints_ = false;
    std::function<bool(const std::exception_ptr&)> should_retry_;
    std::function<bool(const tpc::data_manager&)> equals_;
    std::string equality_key_;
    int value_ = 0;
    mutable std::map<std::string, int, std::less<>> calls_;
    mutable failure_plan failures_;
    const tpc::coordinator* last_txn_ = nullptr;
};

/// The main connection as last resource. Log entries "<name>.flush_buffers",
/// "<name>.commit", "<name>.rollback"; failure keys "flush_buffers", "commit".
class recording_last_resource : public tpc::last_resource {
public:
    explicit recording_last_resource(std::shared_ptr<call_log> log, std::string name = "main");
    recording_last_resource& fail_at(std::string method, std::exception_ptr error = nullptr, int times = -1);

    void flush_buffers() override;
    void commit_last_resource() override;
    void rollback_last_resource() noexcept override;

private:
    std::shared_ptr<call_log> log_;
    std::string name_;
    failure_plan failures_;
};

/// A synchronizer logging "<prefix>newTransaction", "<prefix>beforeCompletion",
/// "<prefix>afterCompletion" (the SPEC's names; prefix "" by default). Failure keys:
/// "new_transaction", "before_completion", "after_completion". `on_after_completion`
/// runs (after logging) in after_completion.
class recording_synchronizer : public tpc::synchronizer {
public:
    explicit recording_synchronizer(std::shared_ptr<call_log> log, std::string prefix = {});
    recording_synchronizer& fail_at(std::string method, std::exception_ptr error = nullptr, int times = -1);

    void new_transaction(tpc::coordinator& txn) override;
    void before_completion(tpc::coordinator& txn) override;
    void after_completion(tpc::coordinator& txn) override;

    std::function<void(tpc::coordinator&)> on_after_completion;
    /// Transactions seen by each callback, in call order.
    std::vector<const tpc::coordinator*> seen;

private:
    void record(tpc::coordinator& txn, const std::string& entry, const std::string& method);
    std::shared_ptr<call_log> log_;
    std::string prefix_;
    failure_plan failures_;
};

/// Captures atrium::log_* messages while alive.
class log_capture {
public:
    log_capture();
    struct entry {
        log_level level;
        std::string message;
    };
    const std::vector<entry>& entries() const noexcept { return *entries_; }
    std::size_t count(log_level level) const;
    /// Some message at `level` contains `text`.
    bool contains(log_level level, std::string_view text) const;

private:
    std::shared_ptr<std::vector<entry>> entries_;
    scoped_log_sink sink_;
};

}  // namespace atrium::test
