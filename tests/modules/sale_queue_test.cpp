// The sale example's confirmation mail and order file come from a queued task
// (issue 22) on both backends: confirm queues it in its own transaction (a
// confirm that rolls back leaves no task, hence no mail and no file); the
// task's transaction joins the mail outbox and the file manager, so a task
// that fails leaves neither and is retried; only the queue may run it.

#include "modules/errors.hpp"
#include "modules/ir/queue.hpp"
#include "modules/registry.hpp"
#include "modules/sale/sale.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/retry.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::size_t files_in(const fs::path& dir) {
    if (!fs::exists(dir)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

struct sale_queue_fixture {
    modules_database f;
    temp_dir dir{"atrium-sale-queue-"};
    fs::path orders = dir.path() / "orders";
    fs::path mail = dir.path() / "mail";

    sale_queue_fixture() {
        module_config config;
        config.set("files", "staging", (dir.path() / "staging").string());
        config.set("mail", "maildir", mail.string());
        config.set("sale", "orders_dir", orders.string());
        config.set("sale", "mail_to", "desk@example.com");
        builtin_modules().configure(std::move(config));
        fiber_state().tasks().clear();
    }
    ~sale_queue_fixture() {
        builtin_modules().configure({});
        fiber_state().tasks().clear();
    }

    std::int64_t order() {
        auto scope = begin(f.db(), root_user);
        return current_pool()->get("sale.order").create(json::array({{{"customer", "ACME"},
            {"lines", json::array({json::array({"create", json::array({{{"product", "bolt"}, {"quantity", dec("3")},
                                                                       {"unit_price", dec("0.1")}}})})})}}}))[0];
    }
    void confirm(std::int64_t id) {
        call_with_retry(f.db(), root_user, {}, [id](transaction&) {
            return current_pool()->find_method("model.sale.order.confirm")->call({json::array({json::array({id})}), {}});
        });
    }
    std::string number(std::int64_t id) {
        auto scope = begin(f.db(), root_user, {.readonly = true});
        return current_pool()->get("sale.order").browse(id, {"number"}).get<std::string>("number");
    }
    std::int64_t count(const std::string& sql) { return std::get<std::int64_t>(f.base.execute(sql).rows.at(0).at(0)); }
    std::size_t mails() { return files_in(mail / "new") + files_in(mail / "tmp"); }
    // What a worker does, once: take the due task and run it.
    std::optional<ir::task_outcome> run_one() {
        const ir::queue_settings settings{.max_tries = 5, .lease_margin = std::chrono::seconds(30),
                                          .backoff = std::chrono::milliseconds(0), .retry = 5, .default_language = "en"};
        auto task = ir::take_task(f.db(), "test worker", settings);
        if (!task) return std::nullopt;
        return ir::run_task(f.db(), *task, settings);
    }
};

}  // namespace

TEST_CASE("sale queue: confirm queues the mail and the order file; the task produces them, once") {
    sale_queue_fixture q;
    const auto id = q.order();
    q.confirm(id);
    const auto number = q.number(id);
    // Committed with the confirm: a pending task, and nothing produced yet.
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE model = 'sale.order' AND method = 'send_confirmation' "
                  "AND state = 'pending' AND user_id = 0") == 1);
    CHECK(q.mails() == 0);
    CHECK_FALSE(fs::exists(q.orders / (number + ".txt")));

    CHECK(q.run_one() == ir::task_outcome::done);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'done'") == 1);
    CHECK(files_in(q.mail / "new") == 1);
    CHECK(files_in(q.mail / "tmp") == 0);
    REQUIRE(fs::exists(q.orders / (number + ".txt")));
    std::ifstream file(q.orders / (number + ".txt"));
    std::string first_line;
    std::getline(file, first_line);
    CHECK(first_line == "order " + number);
    CHECK_FALSE(q.run_one().has_value());  // nothing more due: produced once
    CHECK(files_in(q.mail / "new") == 1);
}

TEST_CASE("sale queue: a confirm that rolls back leaves no task, no mail and no file") {
    sale_queue_fixture q;
    const auto id = q.order();
    CHECK_THROWS_AS(call_with_retry(q.f.db(), root_user, {},
                                    [id](transaction&) -> json {
                                        current_pool()->find_method("model.sale.order.confirm")
                                            ->call({json::array({json::array({id})}), {}});
                                        throw std::runtime_error("the call fails after confirming");
                                    }),
                    std::runtime_error);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue") == 0);
    CHECK_FALSE(q.run_one().has_value());
    CHECK(q.mails() == 0);
    CHECK(files_in(q.orders) == 0);
    auto scope = begin(q.f.db(), root_user, {.readonly = true});
    CHECK(current_pool()->get("sale.order").browse(id, {"state"}).get<std::string>("state") == "draft");
}

TEST_CASE("sale queue: a task whose transaction fails leaves no mail and no file, and is retried") {
    sale_queue_fixture q;
    const auto id = q.order();
    q.confirm(id);
    const auto number = q.number(id);
    // The order's file name now leads outside the orders directory: the file
    // is refused after the mail was staged, and the task's transaction rolls back.
    const auto outside = q.dir.path() / "outside";
    fs::create_directories(outside);
    fs::create_symlink(outside / "stolen.txt", q.orders / (number + ".txt"));
    CHECK(q.run_one() == ir::task_outcome::rescheduled);
    CHECK(q.mails() == 0);
    CHECK(files_in(outside) == 0);
    CHECK(files_in(q.dir.path() / "staging") == 0);
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'pending' AND tries = 1 AND last_error LIKE "
                  "'%cannot be written%'") == 1);

    // Repaired: the retry produces both.
    fs::remove(q.orders / (number + ".txt"));
    CHECK(q.run_one() == ir::task_outcome::done);
    CHECK(files_in(q.mail / "new") == 1);
    CHECK(fs::exists(q.orders / (number + ".txt")));
    CHECK(q.count("SELECT COUNT(*) FROM ir_queue WHERE state = 'done' AND tries = 2") == 1);
}

TEST_CASE("sale queue: send_confirmation is refused to anyone but the queue") {
    sale_queue_fixture q;
    const auto id = q.order();
    q.confirm(id);
    CHECK_THROWS_WITH_AS(call_with_retry(q.f.db(), 1, {},
                                         [id](transaction&) {
                                             return current_pool()
                                                 ->find_method("model.sale.order.send_confirmation")
                                                 ->call({json::array({json::array({id})}), {}});
                                         }),
                         doctest::Contains("task queue only"), user_error);
    CHECK(q.mails() == 0);
}
