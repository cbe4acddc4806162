// The example module on both backends: totals, confirm (strict sequence
// through the retry loop, audit in its own transaction, atexit, UserError,
// UserWarning).
#include "modules/errors.hpp"
#include "modules/ir/queue.hpp"
#include "modules/registry.hpp"
#include "modules/sale/sale.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/errors.hpp"
#include "transaction/retry.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <thread>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {

std::int64_t make_order(const std::shared_ptr<db::database>& db, bool with_lines = true) {
    auto scope = begin(db, root_user);
    json v = {{"customer", "ACME"}, {"salesman", 1}};
    if (with_lines)
        v["lines"] = json::array({json::array(
            {"create", json::array({{{"product", "bolt"}, {"quantity", dec("3")}, {"unit_price", dec("0.1")}},
                                    {{"product", "nut"}, {"quantity", dec("2.5")}, {"unit_price", dec("1.15")}}})})});
    return current_pool()->get("sale.order").create(json::array({v}))[0];
}

json confirm_rpc(const std::shared_ptr<db::database>& db, std::int64_t order, retry_report* report = nullptr) {
    return call_with_retry(db, root_user, {}, [order](transaction&) {
        return current_pool()->find_method("model.sale.order.confirm")->call({json::array({json::array({order})}), json::object()});
    }, report);
}

std::int64_t audit_count(const std::shared_ptr<db::database>& db) {
    auto scope = begin(db, root_user, {.readonly = true});
    return current_pool()->get("sale.audit").search_count(json::array());
}

}  // namespace

TEST_CASE("sale: line amounts and the order total are exact decimals") {
    modules_database f;
    const auto order = make_order(f.db());
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const record o = p->get("sale.order").browse(order, {"total", "lines", "state"});
    CHECK(o.get<decimal>("total").to_string() == "3.18");  // 0.30 + 2.875 → 2.88
    CHECK(o.get<std::string>("state") == "draft");
    const auto lines = p->get("sale.order.line").read(o.get<ids>("lines"), {"amount"});
    CHECK(lines[0]["amount"] == dec("0.30"));
    CHECK(lines[1]["amount"] == dec("2.88"));
    p->get("sale.order.line").remove({o.get<ids>("lines")[0]});
    CHECK(p->get("sale.order").read({order}, {"total"})[0]["total"] == dec("2.88"));
    CHECK(p->get("sale.order").search_count(json::array({leaf("lines.product", "=", "nut")})) == 1);
    CHECK(p->get("sale.order").search_count(json::array({leaf("salesman.login", "=", "admin")})) == 1);
}

TEST_CASE("sale: confirm numbers through the strict sequence (lock_table, retried) and audits") {
    modules_database f;
    const auto a = make_order(f.db());
    const auto b = make_order(f.db());
    std::vector<ids> seen;
    sale::clear_confirm_listeners();
    sale::add_confirm_listener([&](const ids& orders) { seen.push_back(orders); });
    retry_report report;
    confirm_rpc(f.db(), a, &report);
    CHECK(report.fixes == 1);  // the first attempt lacked the table lock
    CHECK(seen == std::vector<ids>{{a}});  // atexit: after the transaction ended, once
    confirm_rpc(f.db(), b);
    sale::clear_confirm_listeners();
    auto scope = begin(f.db(), root_user);
    const auto rows = current_pool()->get("sale.order").read({a, b}, {"number", "state", "confirmed_at"});
    CHECK(rows[0]["number"] == "SO0001");
    CHECK(rows[1]["number"] == "SO0002");
    CHECK(rows[0]["state"] == "confirmed");
    CHECK(rows[0]["confirmed_at"]["__class__"] == "datetime");
    scope.close(true);
    CHECK(audit_count(f.db()) == 2);
    // Confirming again is a user error.
    CHECK_THROWS_WITH_AS(confirm_rpc(f.db(), a), doctest::Contains("not a draft"), user_error);
}

TEST_CASE("sale: confirm reads the module's own configuration section through its pool") {
    modules_database f;
    const auto order = make_order(f.db());
    temp_dir dir("atrium-sale-config-");
    module_config config;
    config.set("files", "staging", (dir.path() / "staging").string());
    config.set("sale", "orders_dir", (dir.path() / "orders").string());
    builtin_modules().configure(std::move(config));
    struct unconfigure {
        ~unconfigure() { builtin_modules().configure({}); }
    } restore;
    confirm_rpc(f.db(), order);
    std::string number;
    {
        auto scope = begin(f.db(), root_user, {.readonly = true});
        number = current_pool()->get("sale.order").browse(order, {"number"}).get<std::string>("number");
    }
    // The file comes from the task confirm queued (tests/modules/sale_queue_test.cpp).
    CHECK_FALSE(std::filesystem::exists(dir.path() / "orders" / (number + ".txt")));
    auto task = ir::take_task(f.db(), "test worker", {});
    REQUIRE(task.has_value());
    CHECK(ir::run_task(f.db(), *task, {}) == ir::task_outcome::done);
    CHECK(std::filesystem::exists(dir.path() / "orders" / (number + ".txt")));
}

TEST_CASE("sale: an order without lines raises a UserError and nothing changes") {
    modules_database f;
    const auto empty = make_order(f.db(), false);
    CHECK_THROWS_WITH_AS(confirm_rpc(f.db(), empty), doctest::Contains("has no lines"), user_error);
    auto scope = begin(f.db(), root_user);
    const auto r = current_pool()->get("sale.order").read({empty}, {"number", "state"})[0];
    CHECK(r["state"] == "draft");
    CHECK(r["number"].is_null());
    scope.close(true);
    CHECK(audit_count(f.db()) == 0);
    // The strict sequence did not move either.
    CHECK(confirm_rpc(f.db(), make_order(f.db())).is_null());
    auto again = begin(f.db(), root_user);
    CHECK(current_pool()->get("sale.order").search_read(json::array({leaf("state", "=", "confirmed")}), {}, {"number"})[0]["number"] == "SO0001");
}

TEST_CASE("sale: the audit record survives a rollback of the confirming transaction") {
    modules_database f;
    const auto order = make_order(f.db());
    bool listener_called = false;
    sale::clear_confirm_listeners();
    sale::add_confirm_listener([&](const ids&) { listener_called = true; });
    try {
        call_with_retry(f.db(), root_user, {}, [order](transaction&) -> json {
            current_pool()->get("sale.order").find_field("state");
            sale::confirm(current_pool()->get("sale.order"), {order});
            throw std::runtime_error("something later fails");
        });
        FAIL("no error");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "something later fails");
    }
    sale::clear_confirm_listeners();
    CHECK(listener_called);  // atexit runs after a rollback too (the transaction ended cleanly)
    auto scope = begin(f.db(), root_user);
    CHECK(current_pool()->get("sale.order").read({order}, {"state"})[0]["state"] == "draft");
    CHECK(current_pool()->get("sale.audit").search_count(json::array({leaf("order_id", "=", order)})) == 1);
}

TEST_CASE("sale: on PostgreSQL the audit is committed by a new_transaction before the caller ends" * ATRIUM_POSTGRESQL_ONLY) {
    modules_database f;
    const auto order = make_order(f.db());
    call_with_retry(f.db(), root_user, {}, [&](transaction&) -> json {
        sale::confirm(current_pool()->get("sale.order"), {order});
        CHECK(f.base.execute("SELECT count(*) FROM \"sale_audit\"").rows[0][0] == db::value(std::int64_t{1}));
        return nullptr;
    });
}

TEST_CASE("sale: a zero total asks for confirmation (UserWarning) once") {
    modules_database f;
    std::int64_t order = 0, user = 0;
    {
        auto scope = begin(f.db(), root_user);
        const auto p = current_pool();
        user = p->get("res.user").create(json::array({{{"name", "u"}, {"login", "u"}}}))[0];
        order = p->get("sale.order").create(json::array({{{"customer", "c"},
            {"lines", json::array({json::array({"create", json::array({{{"product", "free"}, {"unit_price", dec("0")}}})})})}}}))[0];
    }
    auto as_user = [&](transaction&) {
        return current_pool()->find_method("model.sale.order.confirm")->call({json::array({order}), json::object()});
    };
    CHECK_THROWS_AS(call_with_retry(f.db(), user, {}, as_user), user_warning);
    {
        auto scope = begin(f.db(), root_user);
        current_pool()->get("res.user.warning").create(json::array({{{"user", user}, {"name", "sale.order.zero_total," + std::to_string(order)}}}));
    }
    CHECK_NOTHROW(call_with_retry(f.db(), user, {}, as_user));
}

TEST_CASE("sale: confirm over RPC checks the write right of the caller") {
    modules_database f;
    const auto order = make_order(f.db());
    std::int64_t clerk = 0;
    {
        auto scope = begin(f.db(), root_user);
        const auto p = current_pool();
        clerk = p->get("res.user").create(json::array({{{"name", "clerk"}, {"login", "clerk"}}}))[0];
        p->get("ir.model.access").create(json::array({{{"model", "sale.order"}, {"perm_read", true}}}));
    }
    auto as_clerk = [&](transaction&) {
        auto checked = checking_access();
        return current_pool()->find_method("model.sale.order.confirm")->call({json::array({json::array({order})}), json::object()});
    };
    CHECK_THROWS_WITH_AS(call_with_retry(f.db(), clerk, {}, as_clerk), doctest::Contains("Sale"), access_error);
    // The lines follow their sale (access delegation): readable, not writable.
    call_with_retry(f.db(), clerk, {}, [&](transaction&) {
        auto checked = checking_access();
        const model& lines = current_pool()->get("sale.order.line");
        CHECK(lines.search_count(json::array()) == 2);
        CHECK_THROWS_AS(lines.write(lines.search(json::array()), {{"product", "x"}}), access_error);
        return json(nullptr);
    });
    {
        auto scope = begin(f.db(), root_user);
        CHECK(current_pool()->get("sale.order").read({order}, {"state"})[0]["state"] == "draft");
        current_pool()->get("ir.model.access").create(json::array({{{"model", "sale.order"}, {"perm_read", true}, {"perm_write", true}}}));
    }
    CHECK_NOTHROW(call_with_retry(f.db(), clerk, {}, as_clerk));
}

TEST_CASE("sale: concurrent confirmations get distinct, gapless numbers") {
    modules_database f;
    const auto a = make_order(f.db());
    const auto b = make_order(f.db());
    std::exception_ptr errors[2];
    auto run = [&](int slot, std::int64_t order) {
        try {
            retry_options o;
            o.retry = 50;
            call_with_retry(f.db(), root_user, o, [order](transaction&) {
                sale::confirm(current_pool()->get("sale.order"), {order});
                return json(nullptr);
            });
        } catch (...) {
            errors[slot] = std::current_exception();
        }
    };
    std::thread t1(run, 0, a), t2(run, 1, b);
    t1.join();
    t2.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
    auto scope = begin(f.db(), root_user);
    std::set<std::string> numbers;
    for (auto& r : current_pool()->get("sale.order").read({a, b}, {"number"})) numbers.insert(r["number"]);
    CHECK(numbers == std::set<std::string>{"SO0001", "SO0002"});
}
