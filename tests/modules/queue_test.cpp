// The transactional task queue (modules/ir/queue.hpp, issue 22) on both
// backends: a task exists only if its transaction commits; workers take each
// task exactly once; a poison task ends failed with its error; a task whose
// lease was taken over cannot commit its effects.

#include "modules/errors.hpp"
#include "modules/ir/queue.hpp"
#include "modules/ir/queue_metrics.hpp"
#include "modules/registry.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "tests/support/run_in_fiber.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/scopes.hpp"
#include "util/metrics.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {

// test_queue: test.queue.log rows written by tasks ("record" [key]); "poison" always fails.
void register_queue_module() {
    static std::once_flag once;
    std::call_once(once, [] {
        module_def m;
        m.name = "test_queue";
        m.depends = {"res"};
        model_def log("test.queue.log", "Queue Log");
        log.add(fields::char_field("key", "Key").set_required()).add(fields::char_field("who", "User and context"));
        rpc_definition write_rpc;
        write_rpc.readonly = false;
        log.add(custom_method{"record", write_rpc,
                              [](const model& self, const rpc_call& call) {
                                  const auto& txn = current();
                                  self.create(json::array({{{"key", call.args.at(0).get<std::string>()},
                                                            {"who", std::to_string(txn.user()) + " " +
                                                                        txn.context().value("tag", "-")}}}));
                                  return json();
                              },
                              "record(key)"});
        log.add(custom_method{"poison", write_rpc,
                              [](const model& self, const rpc_call&) -> json {
                                  self.create(json::array({{{"key", "poison ran"}}}));
                                  throw user_error("poisoned task", "it always fails");
                              },
                              "poison()"});
        m.models.push_back(std::move(log));
        builtin_modules().add(std::move(m));
    });
}

struct queue_fixture {
    queue_fixture() : f((register_queue_module(), std::vector<std::string>{"test_queue"})) {}
    modules_database f;
    std::shared_ptr<db::database> db() const { return f.db(); }

    std::int64_t enqueue_record(const std::string& key) {
        auto scope = begin(db(), root_user);
        return ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({key})});
    }
    std::int64_t count(const std::string& sql, const std::vector<db::value>& params = {}) {
        const auto r = f.base.execute(sql, params);
        return std::get<std::int64_t>(r.rows.at(0).at(0));
    }
    std::string state(std::int64_t id) {
        return std::get<std::string>(f.base.execute("SELECT state FROM ir_queue WHERE id = ?", {id}).rows.at(0).at(0));
    }
};

}  // namespace

TEST_CASE("queue: a task exists only if the enqueuing transaction commits, and is on the fiber's task list") {
    queue_fixture q;
    fiber_state().tasks().clear();
    CHECK_THROWS_AS(([&] {
                        auto scope = begin(q.db(), root_user);
                        ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({"lost"})});
                        throw std::runtime_error("the call fails");
                    }()),
                    std::runtime_error);
    fiber_state().tasks().clear();  // what the retry loop does; the row is gone with the rollback
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue") == 0);
    CHECK_FALSE(ir::next_task_in(q.db()).has_value());
    CHECK_FALSE(ir::task_due(q.db()));
    CHECK_FALSE(ir::take_task(q.db(), "w", {}).has_value());

    const auto id = q.enqueue_record("kept");
    CHECK(fiber_state().tasks() == std::vector<std::int64_t>{id});
    fiber_state().tasks().clear();
    CHECK(ir::task_due(q.db()));
    auto task = ir::take_task(q.db(), "w", {});
    REQUIRE(task.has_value());
    CHECK(task->id == id);
    CHECK(task->token == 1);
    CHECK(task->tries == 1);
    CHECK(q.state(id) == "running");
    CHECK(ir::run_task(q.db(), *task, {}) == ir::task_outcome::done);
    CHECK(q.state(id) == "done");
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key = 'kept'") == 1);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key = 'lost'") == 0);
    CHECK_FALSE(ir::take_task(q.db(), "w", {}).has_value());
}

TEST_CASE("queue: a task runs as its user with its context, and a scheduled one waits") {
    queue_fixture q;
    {
        // The admin (user 1) queues with a context; request-only `_` keys are not kept.
        auto scope = begin(q.db(), 1, {.context = {{"tag", "blue"}, {"_request", {{"remote_addr", "x"}}}}});
        ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({"as"})});
    }
    fiber_state().tasks().clear();
    auto task = ir::take_task(q.db(), "w", {});
    REQUIRE(task.has_value());
    CHECK(task->user == 1);
    CHECK(task->context == json{{"tag", "blue"}});
    CHECK(ir::run_task(q.db(), *task, {}) == ir::task_outcome::done);
    CHECK(std::get<std::string>(q.f.base.execute("SELECT who FROM test_queue_log WHERE key = 'as'").rows.at(0).at(0)) ==
          "1 blue");
    {
        auto scope = begin(q.db(), root_user);
        ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({"later"}),
                     .delay = std::chrono::hours(1)});
    }
    fiber_state().tasks().clear();
    CHECK_FALSE(ir::take_task(q.db(), "w", {}).has_value());
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'pending'") == 1);
    // Workers sleep until then (at most their safety poll).
    const auto next = ir::next_task_in(q.db());
    REQUIRE(next.has_value());
    CHECK(*next > std::chrono::minutes(59));
    CHECK(*next <= std::chrono::hours(1));
    CHECK_FALSE(ir::task_due(q.db()));
}

TEST_CASE("queue: 4 workers, 1000 tasks, each done exactly once") {
    queue_fixture q;
    constexpr int tasks = 1000;
    {
        auto scope = begin(q.db(), root_user);
        for (int i = 0; i < tasks; ++i)
            ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({std::to_string(i)})});
    }
    fiber_state().tasks().clear();
    std::atomic<int> done{0}, other{0};
    std::map<int, int> per_worker;
    std::mutex mutex;
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&, w] {
            run_in_fiber([&, w] {
                int mine = 0;
                while (auto task = ir::take_task(q.db(), "worker-" + std::to_string(w), {})) {
                    if (ir::run_task(q.db(), *task, {}) == ir::task_outcome::done) ++mine;
                    else ++other;
                }
                done += mine;
                std::lock_guard lock(mutex);
                per_worker[w] = mine;
            });
        });
    for (auto& t : workers) t.join();
    CHECK(done == tasks);
    CHECK(other == 0);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log") == tasks);
    CHECK(q.count("SELECT COUNT(DISTINCT key) FROM test_queue_log") == tasks);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'done' AND tries = 1 AND token = 1") == tasks);
    MESSAGE("tasks per worker: " << per_worker[0] << " " << per_worker[1] << " " << per_worker[2] << " "
                                 << per_worker[3]);
}

TEST_CASE("queue: a poison task is retried with back-off, then kept failed with its error") {
    queue_fixture q;
    std::int64_t id = 0;
    {
        auto scope = begin(q.db(), root_user);
        id = ir::enqueue({.model = "test.queue.log", .method = "poison"});
    }
    fiber_state().tasks().clear();
    ir::queue_settings settings;
    settings.max_tries = 3;
    settings.backoff = std::chrono::milliseconds(0);
    std::vector<ir::task_outcome> outcomes;
    while (auto task = ir::take_task(q.db(), "w", settings)) outcomes.push_back(ir::run_task(q.db(), *task, settings));
    CHECK(outcomes == std::vector<ir::task_outcome>{ir::task_outcome::rescheduled, ir::task_outcome::rescheduled,
                                                    ir::task_outcome::failed});
    CHECK(q.state(id) == "failed");
    CHECK(q.count("SELECT tries FROM ir_queue WHERE id = ?", {id}) == 3);
    const auto error = q.f.base.execute("SELECT last_error FROM ir_queue WHERE id = ?", {id}).rows.at(0).at(0);
    CHECK(std::get<std::string>(error).find("poisoned task") != std::string::npos);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log") == 0);  // every try rolled back

    // With back-off, the next try waits.
    settings.backoff = std::chrono::hours(1);
    settings.max_tries = 5;
    {
        auto scope = begin(q.db(), root_user);
        CHECK(ir::retry_task(id));
    }
    auto task = ir::take_task(q.db(), "w", settings);
    REQUIRE(task.has_value());
    CHECK(ir::run_task(q.db(), *task, settings) == ir::task_outcome::rescheduled);
    CHECK(q.state(id) == "pending");
    CHECK_FALSE(ir::take_task(q.db(), "w", settings).has_value());
}

TEST_CASE("queue: a task whose lease was taken over cannot commit (fencing)") {
    queue_fixture q;
    const auto id = q.enqueue_record("fenced");
    fiber_state().tasks().clear();
    auto first = ir::take_task(q.db(), "slow worker", {});
    REQUIRE(first.has_value());
    CHECK_FALSE(ir::take_task(q.db(), "other", {}).has_value());  // leased
    q.f.base.execute("UPDATE ir_queue SET lease_expiry = 0 WHERE id = ?", {id});  // the lease runs out
    auto second = ir::take_task(q.db(), "other", {});
    REQUIRE(second.has_value());
    CHECK(second->id == id);
    CHECK(second->token == first->token + 1);
    CHECK(second->tries == 2);

    CHECK(ir::run_task(q.db(), *first, {}) == ir::task_outcome::lease_lost);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log") == 0);  // its effects rolled back
    CHECK(q.state(id) == "running");
    CHECK(ir::run_task(q.db(), *second, {}) == ir::task_outcome::done);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key = 'fenced'") == 1);
    CHECK(q.state(id) == "done");
}

TEST_CASE("queue: a task whose lease expired on its last try is kept failed") {
    queue_fixture q;
    const auto id = q.enqueue_record("dies");
    fiber_state().tasks().clear();
    ir::queue_settings settings;
    settings.max_tries = 2;
    for (int i = 0; i < 2; ++i) {
        REQUIRE(ir::take_task(q.db(), "killed", settings).has_value());
        q.f.base.execute("UPDATE ir_queue SET lease_expiry = 0 WHERE id = ?", {id});
    }
    CHECK_FALSE(ir::take_task(q.db(), "w", settings).has_value());
    CHECK(q.state(id) == "failed");
    const auto error = q.f.base.execute("SELECT last_error FROM ir_queue WHERE id = ?", {id}).rows.at(0).at(0);
    CHECK(std::get<std::string>(error).find("lease expired") != std::string::npos);
}

TEST_CASE("queue: atrium-admin's list, retry and drop") {
    queue_fixture q;
    const auto id = q.enqueue_record("x");
    fiber_state().tasks().clear();
    auto scope = begin(q.db(), root_user);
    auto rows = ir::list_tasks();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].id == id);
    CHECK(rows[0].state == "pending");
    CHECK(ir::list_tasks("failed").empty());
    CHECK(ir::drop_task(id));
    CHECK_FALSE(ir::drop_task(id));
    CHECK(ir::list_tasks().empty());
}

TEST_CASE("queue: done tasks older than keep_done are purged in bounded batches; failed and recent ones stay") {
    queue_fixture q;
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(q.enqueue_record("purge" + std::to_string(i)));
    std::int64_t poison = 0;
    {
        auto scope = begin(q.db(), root_user);
        poison = ir::enqueue({.model = "test.queue.log", .method = "poison"});
    }
    fiber_state().tasks().clear();
    ir::queue_settings settings;
    settings.max_tries = 1;
    while (auto task = ir::take_task(q.db(), "w", settings)) ir::run_task(q.db(), *task, settings);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'done'") == 6);
    CHECK(q.state(poison) == "failed");
    // Five finished ten days ago (and the failed task is as old); one just now.
    const double old = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                       10 * 24 * 3600;
    q.f.base.execute("UPDATE ir_queue SET finished_at = ?, scheduled_at = ? WHERE id <> ?",
                     {old, old, ids.back()});
    CHECK(ir::purge_done_tasks(q.db(), std::chrono::hours(7 * 24), /*batch=*/2) == 5);  // three batches
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'done'") == 1);
    CHECK(q.state(ids.back()) == "done");
    CHECK(q.state(poison) == "failed");  // kept until atrium-admin queue drop
    CHECK(ir::purge_done_tasks(q.db(), std::chrono::hours(7 * 24)) == 0);
    // keep_done = 0: every done task goes.
    CHECK(ir::purge_done_tasks(q.db(), std::chrono::seconds(0)) == 1);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue") == 1);
    // Their effects stay, of course.
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key LIKE 'purge%'") == 6);
}

TEST_CASE("queue: with keep_done = 0 a task's row is deleted by its own transaction, fenced as ever") {
    queue_fixture q;
    const auto id = q.enqueue_record("gone");
    fiber_state().tasks().clear();
    ir::queue_settings settings;
    settings.keep_done = std::chrono::seconds(0);
    auto task = ir::take_task(q.db(), "w", settings);
    REQUIRE(task.has_value());
    CHECK(ir::run_task(q.db(), *task, settings) == ir::task_outcome::done);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE id = ?", {id}) == 0);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key = 'gone'") == 1);

    // A stale token deletes nothing and commits nothing.
    const auto second = q.enqueue_record("stale");
    fiber_state().tasks().clear();
    auto stale = ir::take_task(q.db(), "w", settings);
    REQUIRE(stale.has_value());
    q.f.base.execute("UPDATE ir_queue SET token = token + 1 WHERE id = ?", {second});
    CHECK(ir::run_task(q.db(), *stale, settings) == ir::task_outcome::lease_lost);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE id = ?", {second}) == 1);
    CHECK(q.count("SELECT COUNT(*) FROM test_queue_log WHERE key = 'stale'") == 0);
}

TEST_CASE("queue: ir_queue has its (state, scheduled_at) index, and a module update brings it back") {
    queue_fixture q;
    const std::string sql = testing(backend_kind::postgresql)
                                ? "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ir_queue_state_scheduled_idx'"
                                : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
                                  "name = 'ir_queue_state_scheduled_idx'";
    CHECK(q.count(sql) == 1);
    // A database made before the index: the update path creates it.
    q.f.base.execute("DROP INDEX ir_queue_state_scheduled_idx");
    CHECK(q.count(sql) == 0);
    update_database(q.db());
    CHECK(q.count(sql) == 1);
}

TEST_CASE("queue: /metrics counts enqueued (committed only), started, done, retried and failed tasks") {
    queue_fixture q;
    ir::register_queue_metrics();
    const auto counter = [](const char* outcome) {
        return metrics::register_counter("atrium_queue_tasks_total", "", {{"outcome", outcome}}).value();
    };
    const auto histogram_count = [] {
        return metrics::register_histogram("atrium_queue_task_duration_seconds", "", {}).read().count;
    };
    const auto enqueued = counter("enqueued"), started = counter("started"), done = counter("done"),
               retried = counter("retried"), failed = counter("failed"), runs = histogram_count();
    CHECK_THROWS_AS(([&] {
                        auto scope = begin(q.db(), root_user);
                        ir::enqueue({.model = "test.queue.log", .method = "record", .args = json::array({"lost"})});
                        throw std::runtime_error("the call fails");
                    }()),
                    std::runtime_error);
    CHECK(counter("enqueued") == enqueued);  // rolled back: not counted
    q.enqueue_record("counted");
    {
        auto scope = begin(q.db(), root_user);
        ir::enqueue({.model = "test.queue.log", .method = "poison"});
    }
    fiber_state().tasks().clear();
    CHECK(counter("enqueued") == enqueued + 2);
    ir::queue_settings settings;
    settings.max_tries = 2;
    settings.backoff = std::chrono::milliseconds(0);
    while (auto task = ir::take_task(q.db(), "w", settings)) ir::run_task(q.db(), *task, settings);
    CHECK(counter("started") == started + 3);  // the record once, the poison twice
    CHECK(counter("done") == done + 1);
    CHECK(counter("retried") == retried + 1);
    CHECK(counter("failed") == failed + 1);
    CHECK(histogram_count() == runs + 3);
}
