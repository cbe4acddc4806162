// ir.queue: the table and enqueue() (modules/ir/queue.hpp).

#include "modules/ir/queue.hpp"

#include "modules/errors.hpp"
#include "modules/ir/queue_metrics.hpp"
#include "modules/registry.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <chrono>

namespace atrium::modules::ir {

namespace {

double epoch_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The context a task keeps: the caller's, without the request-only `_` keys
// (`_request`, `_check_access`, `_timestamp` …).
nlohmann::json task_context(const nlohmann::json& context) {
    nlohmann::json kept = nlohmann::json::object();
    for (const auto& [key, value] : context.items())
        if (key.empty() || key[0] != '_') kept[key] = value;
    return kept;
}

// Tells the workers of every process, once this transaction commits: NOTIFY
// on PostgreSQL (delivered only on commit), the change counter elsewhere.
void announce(transaction& txn, std::int64_t id) {
    auto& conn = txn.connection();
    if (conn.backend_name() == "postgresql") {
        conn.execute("SELECT pg_notify(?, ?)", {std::string(queue_channel), std::to_string(id)});
        return;
    }
    txn.atexit([database = txn.database()] {
        try {
            if (auto counter = database->change_counter(queue_counter)) counter->increment();
        } catch (const std::exception& error) {
            log_warning(std::string("queue counter not moved (workers find the task at their next poll): ") +
                        error.what());
        }
    });
}

}  // namespace

void add_queue_model(module_def& ir) {
    // Times are epoch seconds (float): the workers compare them in SQL on both backends.
    model_def queue("ir.queue", "Queue");
    queue.add(fields::char_field("model", "Model").set_required())
        .add(fields::char_field("method", "Method").set_required())
        .add(fields::text("record_ids", "Ids").set_help("JSON: the first argument, or null"))
        .add(fields::text("args", "Arguments").set_help("JSON list"))
        .add(fields::text("context", "Context").set_help("JSON object"))
        .add(fields::integer("user_id", "User").set_required())
        .add(fields::float_field("scheduled_at", "Scheduled At").set_required())
        .add(fields::float_field("expected_duration", "Expected Duration").set_required())
        .add(fields::selection("state",
                               {{"pending", "Pending"}, {"running", "Running"}, {"done", "Done"}, {"failed", "Failed"}},
                               "State")
                 .set_required()
                 .set_default("pending"))
        .add(fields::integer("tries", "Tries").set_default(0))
        .add(fields::text("last_error", "Last Error"))
        .add(fields::char_field("lease_owner", "Lease Owner"))
        .add(fields::float_field("lease_expiry", "Lease Expiry"))
        .add(fields::integer("token", "Fencing Token").set_default(0))
        .add(fields::float_field("finished_at", "Finished At"));
    queue.rec_name = "method";
    queue.order = {{"scheduled_at", "ASC"}, {"id", "ASC"}};
    ir.models.push_back(std::move(queue));
}

std::int64_t enqueue(const task_request& request) {
    transaction& txn = current();
    if (request.model.empty() || request.method.empty())
        throw user_error("A queued task needs a model and a method.");
    if (!request.args.is_array()) throw user_error("The arguments of a queued task must be a list.");
    const auto p = current_pool();
    nlohmann::json values = {
        {"model", request.model},
        {"method", request.method},
        {"record_ids", request.ids.dump()},
        {"args", request.args.dump()},
        {"context", (request.context ? *request.context : task_context(txn.context())).dump()},
        {"user_id", request.user.value_or(txn.user())},
        {"scheduled_at", epoch_seconds() + std::chrono::duration<double>(request.delay).count()},
        {"expected_duration", static_cast<double>(request.expected_duration.count())},
        {"state", "pending"},
    };
    auto guard = without_check_access();
    const auto id = p->get("ir.queue").create(nlohmann::json::array({values})).at(0);
    fiber_state().tasks().push_back(id);
    announce(txn, id);
    // Counted once committed (atexit callbacks also run after a rollback).
    txn.coordinator().add_after_commit_hook([](bool committed) {
        if (committed) count_task(task_event::enqueued);
    });
    return id;
}

std::vector<queue_row> list_tasks(const std::string& state) {
    auto& conn = current().connection();
    std::string sql = "SELECT id, model, method, state, tries, last_error, scheduled_at FROM ir_queue";
    std::vector<db::value> params;
    if (!state.empty()) {
        sql += " WHERE state = ?";
        params.emplace_back(state);
    }
    sql += " ORDER BY scheduled_at, id";
    std::vector<queue_row> rows;
    for (const auto& r : conn.execute(sql, params).rows) {
        queue_row row;
        row.id = std::get<std::int64_t>(r[0]);
        row.model = std::get<std::string>(r[1]);
        row.method = std::get<std::string>(r[2]);
        row.state = std::get<std::string>(r[3]);
        row.tries = db::is_null(r[4]) ? 0 : std::get<std::int64_t>(r[4]);
        row.last_error = db::is_null(r[5]) ? "" : std::get<std::string>(r[5]);
        row.scheduled_at = std::holds_alternative<double>(r[6]) ? std::get<double>(r[6])
                                                                 : static_cast<double>(std::get<std::int64_t>(r[6]));
        rows.push_back(std::move(row));
    }
    return rows;
}

bool retry_task(std::int64_t id) {
    transaction& txn = current();
    const auto r = txn.connection().execute(
        "UPDATE ir_queue SET state = 'pending', tries = 0, scheduled_at = ?, lease_owner = NULL, lease_expiry = NULL "
        "WHERE id = ? AND state IN ('failed', 'pending')",
        {epoch_seconds(), id});
    if (r.affected_rows > 0) announce(txn, id);
    return r.affected_rows > 0;
}

bool drop_task(std::int64_t id) {
    return current().connection().execute("DELETE FROM ir_queue WHERE id = ? AND state <> 'running'", {id})
               .affected_rows > 0;
}

}  // namespace atrium::modules::ir
