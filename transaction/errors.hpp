#pragma once
// Errors of the transaction layer, all atrium::error (util/error.hpp). Python's
// ValueError/TypeError/KeyError of the references become value_error/type_error
// (category invalid_argument: the client sent a bad value) and key_error
// (programming); each class's category says what a caller may do about it.

#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace atrium {

/// Misuse of an API with a bad value (Python ValueError).
class value_error : public error {
public:
    explicit value_error(const std::string& message) : error(message, error_category::invalid_argument) {}
};

/// Wrong kind of object for the operation (Python TypeError).
class type_error : public error {
public:
    explicit type_error(const std::string& message) : error(message, error_category::invalid_argument) {}
};

/// Missing key (Python KeyError).
class key_error : public error {
public:
    explicit key_error(const std::string& message) : error(message, error_category::programming) {}
};

/// There is no current transaction (current() on an empty stack, explicit mode get()).
class no_transaction : public error {
public:
    no_transaction() : no_transaction("no current transaction") {}
    explicit no_transaction(const std::string& message) : error(message, error_category::programming) {}
};

/// SPEC §4.1: an error that a retry can fix by changing the start-up extras.
class transaction_error : public error {
public:
    explicit transaction_error(const std::string& message) : error(message, error_category::needs_fix) {}
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
class already_in_transaction : public error {
public:
    already_in_transaction() : error("a transaction is already in progress", error_category::programming) {}
};

/// commit() of a doomed transaction.
class doomed_transaction : public error {
public:
    doomed_transaction() : error("transaction is doomed; it can only be aborted", error_category::other) {}
};

/// Use of a transaction after a failed commit; only abort() gets out.
class transaction_failed_error : public error {
public:
    explicit transaction_failed_error(const std::string& failure)
        : error("An operation previously failed, with traceback:\n" + failure, error_category::other) {}
};

/// rollback() of a savepoint invalidated by a later one (or by commit/abort).
class invalid_savepoint_rollback_error : public error {
public:
    explicit invalid_savepoint_rollback_error(const std::string& message)
        : error(message, error_category::programming) {}
};

/// Some data managers failed to finish after the decision was durable.
class heuristic_commit_error : public error {
public:
    explicit heuristic_commit_error(const std::string& message) : error(message, error_category::other) {}
};

/// Marks a failure worth retrying (SPEC §3.8).
class transient_error : public error {
public:
    explicit transient_error(const std::string& message) : error(message, error_category::transient) {}
};

}  // namespace atrium
