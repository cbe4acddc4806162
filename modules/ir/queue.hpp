#pragma once
// The transactional task queue (ir.queue, issue 22). enqueue() inserts a task
// in the caller's transaction, so it exists only if that commits, and puts its
// id on the fiber's task list (SPEC §1.5), which the server drains after the
// call to wake its workers. Workers take a task under a lease with a fencing
// token (take_task), run it in its own transaction through the dispatcher's
// retry loop as the task's user with its context (run_task), and mark it done
// in that same transaction only while the token is still theirs: a task whose
// lease was taken over cannot commit its effects.

#include "database/database.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atrium::modules {
struct module_def;
}

namespace atrium::modules::ir {

/// PostgreSQL channel NOTIFYed by every committed enqueue (payload: the task id).
inline constexpr const char* queue_channel = "atrium_queue";
/// The database change counter (db::database::change_counter) an enqueue
/// moves on commit where there is no NOTIFY (SQLite).
inline constexpr const char* queue_counter = "queue";

/// Adds the ir.queue model to the ir module.
void add_queue_model(module_def& ir);

/// What to run: `model`'s exposed method `method`, called with `ids` (when
/// not null) followed by `args`, as `user` with `context`.
struct task_request {
    std::string model;
    std::string method;
    nlohmann::json ids = nullptr;                        ///< record ids (first argument), or null
    nlohmann::json args = nlohmann::json::array();       ///< further positional arguments
    std::optional<nlohmann::json> context{};             ///< default: the current context without `_` keys
    std::optional<std::int64_t> user{};                  ///< default: the current user
    std::chrono::milliseconds delay{0};                  ///< runs no earlier than now + delay
    std::chrono::seconds expected_duration{60};          ///< the lease is this plus the workers' margin
};

/// Inserts the task in the current transaction (no transaction: no_transaction)
/// and appends its id to the fiber's task list; on PostgreSQL the NOTIFY goes
/// out with the same commit, elsewhere the change counter moves after it.
std::int64_t enqueue(const task_request& request);

/// How workers take and run tasks (`[queue]` of the server's configuration).
struct queue_settings {
    int max_tries = 5;                                  ///< a task failing this often stays failed
    std::chrono::milliseconds lease_margin{30000};      ///< added to the task's expected duration
    std::chrono::milliseconds backoff{1000};            ///< first retry delay; doubles per try (≤ 1 h)
    int retry = 5;                                      ///< database.retry for the task's transaction
    std::string default_language = "en";
    /// Done tasks are kept this long (purge_done_tasks); zero: the task's row
    /// is deleted in its own transaction instead of being marked done.
    std::chrono::seconds keep_done{7 * 24 * 3600};
};

/// A task a worker holds a lease on.
struct taken_task {
    std::int64_t id = 0;
    std::int64_t token = 0;  ///< the fencing token of this take
    std::int64_t tries = 0;  ///< takes so far, this one included
    std::int64_t user = 0;
    std::string model, method;
    nlohmann::json ids, args, context;
};

/// How long until the next task is due (zero: one is due now): the earliest
/// scheduled time of a pending task or lease expiry of a running one; none
/// when no task waits. A read-only look, before taking any write lock.
std::optional<std::chrono::milliseconds> next_task_in(const std::shared_ptr<db::database>& database);
/// next_task_in() is zero.
bool task_due(const std::shared_ptr<db::database>& database);

/// Takes the next due task (pending and scheduled, or running with an expired
/// lease) for `owner`: FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on
/// SQLite; marks it running with a new token and commits. A task whose lease
/// expired after max_tries takes is marked failed instead. None when nothing is due.
std::optional<taken_task> take_task(const std::shared_ptr<db::database>& database, const std::string& owner,
                                    const queue_settings& settings);

enum class task_outcome { done, rescheduled, failed, lease_lost };

/// Runs a taken task in its own transaction (retried like a call) and marks it
/// done there, guarded by its token; on an error, records it in a transaction
/// of its own and reschedules with back-off, or marks it failed after max_tries.
task_outcome run_task(const std::shared_ptr<db::database>& database, const taken_task& task,
                      const queue_settings& settings);

/// The index the workers' queries use, (state, scheduled_at): created with
/// the table and, for databases made before it, by the module update path.
void ensure_queue_index(db::connection& conn);

/// Deletes done tasks finished more than `keep` ago, at most `batch` rows per
/// transaction (a short write lock each, SQLite's included) until none is
/// left; failed tasks stay until `atrium-admin queue drop`. Returns the count.
std::size_t purge_done_tasks(const std::shared_ptr<db::database>& database, std::chrono::seconds keep,
                             std::size_t batch = 500);

/// One row of ir.queue as atrium-admin lists it.
struct queue_row {
    std::int64_t id = 0;
    std::string model, method, state, last_error;
    std::int64_t tries = 0;
    double scheduled_at = 0;
};

/// The tasks in `state` (empty: all), oldest first; on the current transaction.
std::vector<queue_row> list_tasks(const std::string& state = {});
/// Makes a failed (or pending) task due now with its tries reset; false if there is none such.
bool retry_task(std::int64_t id);
/// Deletes a task that is not running; false if there is none such.
bool drop_task(std::int64_t id);

}  // namespace atrium::modules::ir
