// Taking and running ir.queue tasks (modules/ir/queue.hpp).

#include "modules/ir/queue.hpp"
#include "database/value_numbers.hpp"

#include "modules/errors.hpp"
#include "modules/ir/queue_metrics.hpp"
#include "modules/registry.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <cmath>

namespace atrium::modules::ir {

namespace {

double epoch_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

nlohmann::json as_json(const db::value& v, nlohmann::json fallback) {
    if (!std::holds_alternative<std::string>(v)) return fallback;
    auto parsed = nlohmann::json::parse(std::get<std::string>(v), nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? fallback : parsed;
}

// The task's lease was taken over (its token changed): its transaction must not commit.
class lease_lost_error : public error {
public:
    explicit lease_lost_error(std::int64_t id)
        : error("the lease of task " + std::to_string(id) + " was taken over", error_category::other) {}
};

retry_options root_options(const queue_settings& settings, bool readonly) {
    retry_options options;
    options.start.readonly = readonly;
    options.start.default_language = settings.default_language;
    // Workers racing for the same rows conflict now and then (SKIP LOCKED
    // under REPEATABLE READ, SQLite's write lock): retry more than a call does.
    options.retry = std::max(settings.retry, 20);
    options.start.lock_retries = settings.retry;
    return options;
}

const char* due_condition = "(state = 'pending' AND scheduled_at <= ?) OR (state = 'running' AND lease_expiry < ?)";

}  // namespace

std::optional<std::chrono::milliseconds> next_task_in(const std::shared_ptr<db::database>& database) {
    queue_settings defaults;
    const auto next = call_with_retry(database, root_user, root_options(defaults, true), [](transaction& txn) {
        const auto r = txn.connection().execute(
            "SELECT MIN(CASE WHEN state = 'pending' THEN scheduled_at ELSE lease_expiry END) FROM ir_queue "
            "WHERE state IN ('pending', 'running')");
        if (r.empty() || db::is_null(r.rows[0][0])) return nlohmann::json();
        return nlohmann::json(db::real_of(r.rows[0][0]));
    });
    if (next.is_null()) return std::nullopt;
    const double wait = next.get<double>() - epoch_seconds();
    if (wait <= 0) return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(wait * 1000)));
}

bool task_due(const std::shared_ptr<db::database>& database) {
    const auto next = next_task_in(database);
    return next && next->count() == 0;
}

std::optional<taken_task> take_task(const std::shared_ptr<db::database>& database, const std::string& owner,
                                    const queue_settings& settings) {
    for (;;) {
        std::optional<taken_task> taken;
        bool expired_for_good = false;
        call_with_retry(database, root_user, root_options(settings, false), [&](transaction& txn) {
            taken.reset();
            expired_for_good = false;
            auto& conn = txn.connection();
            const double now = epoch_seconds();
            std::string sql =
                std::string("SELECT id, model, method, record_ids, args, context, user_id, expected_duration, tries, "
                            "token, state FROM ir_queue WHERE ") +
                due_condition + " ORDER BY scheduled_at, id LIMIT 1";
            // Rows other workers are taking are skipped, not waited for.
            if (conn.backend_name() == "postgresql") sql += " FOR UPDATE SKIP LOCKED";
            const auto r = conn.execute(sql, {now, now});
            if (r.empty()) return nlohmann::json();
            const auto& row = r.rows[0];
            taken_task task;
            task.id = db::integer_of(row[0]);
            task.model = std::get<std::string>(row[1]);
            task.method = std::get<std::string>(row[2]);
            task.ids = as_json(row[3], nullptr);
            task.args = as_json(row[4], nlohmann::json::array());
            task.context = as_json(row[5], nlohmann::json::object());
            task.user = db::integer_of(row[6]);
            const double expected = db::real_of(row[7]);
            const std::int64_t tries = db::is_null(row[8]) ? 0 : db::integer_of(row[8]);
            const std::int64_t token = db::is_null(row[9]) ? 0 : db::integer_of(row[9]);
            const bool was_running = std::get<std::string>(row[10]) == "running";
            if (was_running && tries >= settings.max_tries) {
                // Its worker died (or overran) on every try: keep it, failed.
                conn.execute("UPDATE ir_queue SET state = 'failed', lease_owner = NULL, lease_expiry = NULL, "
                             "last_error = ? WHERE id = ? AND token = ?",
                             {"the lease expired on try " + std::to_string(tries) + " of " +
                                  std::to_string(settings.max_tries) + " (the worker died or overran)",
                              task.id, token});
                expired_for_good = true;
                return nlohmann::json();
            }
            task.token = token + 1;
            task.tries = tries + 1;
            const double lease = expected + std::chrono::duration<double>(settings.lease_margin).count();
            conn.execute("UPDATE ir_queue SET state = 'running', tries = ?, token = ?, lease_owner = ?, "
                         "lease_expiry = ? WHERE id = ? AND token = ?",
                         {task.tries, task.token, owner, now + lease, task.id, token});
            taken = std::move(task);
            return nlohmann::json();
        });
        if (expired_for_good) {
            count_task(task_event::failed);
            continue;
        }
        if (taken) count_task(task_event::started);
        return taken;
    }
}

namespace {

task_outcome run_and_record(const std::shared_ptr<db::database>& database, const taken_task& task,
                            const queue_settings& settings) {
    retry_options options;
    options.start.context = task.context.is_object() ? task.context : nlohmann::json::object();
    options.start.default_language = settings.default_language;
    options.start.lock_retries = settings.retry;
    options.retry = settings.retry;
    std::string failure;
    try {
        call_with_retry(database, task.user, options, [&](transaction& txn) {
            const auto p = current_pool();
            const auto* method = p->find_method("model." + task.model + "." + task.method);
            if (!method) throw user_error("There is no method \"" + task.method + "\" on \"" + task.model + "\".");
            rpc_call call;
            if (!task.ids.is_null()) call.args.push_back(task.ids);
            if (task.args.is_array())
                for (const auto& arg : task.args) call.args.push_back(arg);
            method->call(call);
            // Fencing: done only while the token is still ours, in the task's
            // transaction (kept as done for queue.keep_done, or deleted at once).
            const auto r = settings.keep_done.count() == 0
                               ? txn.connection().execute(
                                     "DELETE FROM ir_queue WHERE id = ? AND token = ? AND state = 'running'",
                                     {task.id, task.token})
                               : txn.connection().execute(
                                     "UPDATE ir_queue SET state = 'done', finished_at = ?, lease_owner = NULL, "
                                     "lease_expiry = NULL, last_error = NULL WHERE id = ? AND token = ? AND "
                                     "state = 'running'",
                                     {epoch_seconds(), task.id, task.token});
            if (r.affected_rows != 1) throw lease_lost_error(task.id);
            return nlohmann::json();
        });
        return task_outcome::done;
    } catch (const lease_lost_error& error) {
        log_warning(std::string("queue: ") + error.what() + "; its transaction was rolled back");
        return task_outcome::lease_lost;
    } catch (const user_error& error) {
        failure = error.message();
        if (!error.description().empty()) failure += "\n" + error.description();
    } catch (const std::exception& error) {
        failure = error.what();
    }
    // The task's transaction rolled back: record why in a transaction of our own.
    const bool final = task.tries >= settings.max_tries;
    const double delay = std::min(3600.0, std::chrono::duration<double>(settings.backoff).count() *
                                              std::pow(2.0, static_cast<double>(std::max<std::int64_t>(0, task.tries - 1))));
    bool recorded = false;
    call_with_retry(database, root_user, root_options(settings, false), [&](transaction& txn) {
        const auto r = txn.connection().execute(
            "UPDATE ir_queue SET state = ?, last_error = ?, scheduled_at = ?, lease_owner = NULL, "
            "lease_expiry = NULL WHERE id = ? AND token = ?",
            {std::string(final ? "failed" : "pending"), failure, epoch_seconds() + delay, task.id, task.token});
        recorded = r.affected_rows == 1;
        return nlohmann::json();
    });
    if (!recorded) return task_outcome::lease_lost;
    log_warning("queue: task " + std::to_string(task.id) + " (" + task.model + "." + task.method + ") failed on try " +
                std::to_string(task.tries) + (final ? ", for good: " : ", rescheduled: ") + failure);
    return final ? task_outcome::failed : task_outcome::rescheduled;
}

}  // namespace

task_outcome run_task(const std::shared_ptr<db::database>& database, const taken_task& task,
                      const queue_settings& settings) {
    const auto started = std::chrono::steady_clock::now();
    const auto outcome = run_and_record(database, task, settings);
    observe_task_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    switch (outcome) {
        case task_outcome::done: count_task(task_event::done); break;
        case task_outcome::rescheduled: count_task(task_event::retried); break;
        case task_outcome::failed: count_task(task_event::failed); break;
        case task_outcome::lease_lost: count_task(task_event::lease_lost); break;
    }
    return outcome;
}

}  // namespace atrium::modules::ir
