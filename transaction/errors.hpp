#pragma once
// Errors of the transaction layer. Python's ValueError/TypeError/KeyError of
// the references become value_error/type_error/key_error (programming errors,
// std::logic_error); conditions a caller may recover from are runtime errors.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace atrium {

/// Misuse of an API with a bad value (Python ValueError).
class value_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// Wrong kind of object for the operation (Python TypeError).
class type_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// Missing key (Python KeyError).
class key_error : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

/// There is no current transaction (current() on an empty stack, explicit mode get()).
class no_transaction : public std::logic_error {
public:
    no_transaction() : std::logic_error("no current transaction") {}
    using std::logic_error::logic_error;
};

/// SPEC §4.1: an error that a retry can fix by changing the start-up extras.
class transaction_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    /// Mutates `extras` so that the next start takes what was missing. Fixes accumulate.
    virtual void fix(nlohmann::json& extras) const;
};

/// lock_table() on a table that was not locked at start.
class table_lock_required : public transaction_error {
public:
    explicit table_lock_required(std::string table);
    const std::string& table() const noexcept { return table_; }
    void fix(nlohmann::json& extras) const override;

private:
    std::string table_;
};

/// lock_records() on ids that were not locked at start.
class record_lock_required : public transaction_error {
public:
    record_lock_required(std::string table, std::vector<std::int64_t> missing_ids);
    const std::string& table() const noexcept { return table_; }
    const std::vector<std::int64_t>& ids() const noexcept { return ids_; }
    void fix(nlohmann::json& extras) const override;

private:
    std::string table_;
    std::vector<std::int64_t> ids_;
};

// --- Zope-style coordinator errors (SPEC §2–§3) ---

/// begin() in explicit mode while a transaction is current.
class already_in_transaction : public std::logic_error {
public:
    already_in_transaction() : std::logic_error("a transaction is already in progress") {}
};

/// commit() of a doomed transaction.
class doomed_transaction : public std::runtime_error {
public:
    doomed_transaction() : std::runtime_error("transaction is doomed; it can only be aborted") {}
};

/// Use of a transaction after a failed commit; only abort() gets out.
class transaction_failed_error : public std::runtime_error {
public:
    explicit transaction_failed_error(const std::string& failure)
        : std::runtime_error("An operation previously failed, with traceback:\n" + failure) {}
};

/// rollback() of a savepoint invalidated by a later one (or by commit/abort).
class invalid_savepoint_rollback_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Some data managers failed to finish after the decision was durable.
class heuristic_commit_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Marks a failure worth retrying (SPEC §3.8).
class transient_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace atrium
