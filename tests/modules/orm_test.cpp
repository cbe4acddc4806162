// The framework on both backends: field round-trips, domains, bookkeeping,
// optimistic locking, schema update, generic methods.
#include "database/sqlite/sqlite_connection.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

TEST_CASE("modules: every field type round-trips") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const model& m = p->get("test.types");
    const json moment = {{"__class__", "datetime"}, {"year", 2026}, {"month", 12}, {"day", 1}, {"hour", 21},
                         {"minute", 5},             {"second", 9},  {"microsecond", 123456}};
    const json day = {{"__class__", "date"}, {"year", 2024}, {"month", 2}, {"day", 29}};
    const json data = {{"__class__", "bytes"}, {"base64", "AAEC/w==\n"}};
    const auto tag = p->get("test.tag").create(json::array({{{"name", "red"}}}));
    const auto ids = m.create(json::array({{{"flag", true},
                                            {"count", 9007199254740993LL},
                                            {"ratio", 0.25},
                                            {"price", dec("12345678901234567890.125")},
                                            {"name", "héllo"},
                                            {"notes", "line1\nline2"},
                                            {"day", day},
                                            {"moment", moment},
                                            {"data", data},
                                            {"kind", "b"},
                                            {"owner", 1},
                                            {"children", json::array({json::array({"create", json::array({{{"name", "c1"}}})})})},
                                            {"tags", json::array({json::array({"add", tag})})}}}));
    REQUIRE(ids.size() == 1);
    const json r = m.read(ids)[0];
    CHECK(r["flag"] == true);
    CHECK(r["count"] == 9007199254740993LL);
    CHECK(r["ratio"] == 0.25);
    CHECK(r["price"] == dec("12345678901234567890.125"));
    CHECK(r["name"] == "héllo");
    CHECK(r["notes"] == "line1\nline2");
    CHECK(r["day"] == day);
    CHECK(r["moment"] == moment);
    CHECK(r["data"] == data);
    CHECK(r["kind"] == "b");
    CHECK(r["owner"] == 1);
    CHECK(r["children"].size() == 1);
    CHECK(r["tags"] == json(tag));
    CHECK(r["label"] == "unnamed");  // default
    CHECK(r["create_uid"] == 0);
    CHECK(r["create_date"]["__class__"] == "datetime");
    // Typed access for module code.
    const record rec = m.browse(ids[0]);
    CHECK(rec.get<decimal>("price") == decimal::parse("12345678901234567890.125"));
    CHECK(rec.get<date>("day") == date{2024, 2, 29});
    CHECK(rec.get<datetime>("moment").microsecond == 123456);
    CHECK(rec.get<std::vector<unsigned char>>("data") == std::vector<unsigned char>{0, 1, 2, 255});
    // Nulls come back as null (booleans as false).
    const auto empty = m.create(json::array({json::object()}));
    const json e = m.read(empty, {"flag", "count", "price", "day", "owner", "data"})[0];
    CHECK(e["flag"] == false);
    CHECK(e["count"].is_null());
    CHECK(e["price"].is_null());
    CHECK(e["owner"].is_null());
}

TEST_CASE("modules: bad values are user errors naming the field") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const model& m = current_pool()->get("test.types");
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"price", 1.5}}})), doctest::Contains("\"Price\""), user_error);
    CHECK_THROWS_AS(m.create(json::array({{{"kind", "z"}}})), user_error);
    CHECK_THROWS_AS(m.create(json::array({{{"day", {{"__class__", "date"}, {"year", 2023}, {"month", 2}, {"day", 29}}}}})),
                    user_error);
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"nope", 1}}})), doctest::Contains("nope"), user_error);
    // The target is looked up by the INSERT itself; a missing one leaves no row behind.
    const auto rows_before = m.search(json::array()).size();
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"owner", 999}}})), doctest::Contains("\"Owner\""), user_error);
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"name", "ok"}, {"owner", 1}}, {{"owner", 999}}})),
                         doctest::Contains("is not a \"User\" record"), user_error);
    CHECK(m.search(json::array()).size() == rows_before + 1);  // the first of the two, before the error
    CHECK(m.search(json::array({json::array({"owner", "=", 999})})).empty());
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"create_uid", 1}}})), doctest::Contains("set by the system"), user_error);
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"label", nullptr}}})), doctest::Contains("required"), user_error);
    m.create(json::array({{{"code", "X"}}}));
    CHECK_THROWS_WITH_AS(m.create(json::array({{{"code", "X"}}})), doctest::Contains("unique"), user_error);
}

TEST_CASE("modules: domains, order, offset, limit") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const model& m = p->get("test.types");
    m.create(json::array({{{"name", "Apple"}, {"count", 1}, {"price", dec("9.5")}, {"owner", 1}},
                          {{"name", "banana"}, {"count", 2}, {"price", dec("10.25")}},
                          {{"name", "Cherry"}, {"count", 3}, {"price", dec("100")}, {"owner", 1}},
                          {{"name", "date"}, {"price", dec("-1")}}}));
    auto names = [&](const json& domain, search_options o = {}) {
        std::vector<std::string> out;
        for (auto& r : m.search_read(domain, o, {"name"})) out.push_back(r["name"]);
        return out;
    };
    using v = std::vector<std::string>;
    CHECK(names(json::array({leaf("count", ">=", 2)})) == v{"banana", "Cherry"});
    CHECK(names(json::array({leaf("count", "=", nullptr)})) == v{"date"});
    CHECK(names(json::array({leaf("count", "!=", 2)})) == v{"Apple", "Cherry", "date"});
    CHECK(names(json::array({leaf("count", "in", {1, 3})})) == v{"Apple", "Cherry"});
    CHECK(names(json::array({leaf("count", "not in", {1, 3})})) == v{"banana", "date"});
    CHECK(names(json::array({leaf("name", "like", "%an%")})) == v{"banana"});
    CHECK(names(json::array({leaf("name", "like", "a%")})) == v{});  // like is case-sensitive
    CHECK(names(json::array({leaf("name", "ilike", "a%")})) == v{"Apple"});
    CHECK(names(json::array({leaf("name", "not ilike", "%a%")})) == v{"Cherry"});
    CHECK(names(json::array({leaf("name", "not like", "%e%")})) == v{"banana"});
    // Numeric comparisons are numeric, not textual (10.25 > 9.5).
    CHECK(names(json::array({leaf("price", ">", dec("9.75"))})) == v{"banana", "Cherry"});
    CHECK(names(json::array({leaf("price", "<", 0)})) == v{"date"});
    CHECK(names(json::array({"OR", leaf("count", "=", 1), json::array({leaf("count", ">", 2), leaf("name", "=", "Cherry")})})) ==
          v{"Apple", "Cherry"});
    // Dotted path through a many2one.
    CHECK(names(json::array({leaf("owner.login", "=", "admin")})) == v{"Apple", "Cherry"});
    CHECK(names(json::array(), {.offset = 1, .limit = 2, .order = json::array({json::array({"count", "DESC"})})}) ==
          v{"banana", "Apple"});
    CHECK(names(json::array(), {.offset = 3}) == v{"date"});
    CHECK(m.search_count(json::array({leaf("price", ">=", dec("10.25"))})) == 2);
    CHECK_THROWS_WITH_AS(m.search(json::array({leaf("nope", "=", 1)})), doctest::Contains("nope"), user_error);
    CHECK_THROWS_AS(m.search(json::array(), {.order = json::array({json::array({"name; DROP", "ASC"})})}), user_error);
    CHECK_THROWS_AS(m.search(json::array(), {.order = json::array({json::array({"name", "SIDEWAYS"})})}), user_error);
}

TEST_CASE("modules: repeated searches and reads keep SQLite's statement cache valid") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const model& m = current_pool()->get("test.types");
    m.create(json::array({{{"name", "Apple"}}}));
    auto* sqlite = dynamic_cast<db::sqlite_connection*>(&current().connection());
    // (Not `like`: SQLite itself re-prepares a LIKE whose pattern is a parameter.)
    auto search = [&] { return m.search_read(json::array({leaf("name", "=", "Apple")}), {}, {"name"}).size(); };
    CHECK(search() == 1);  // after the schema set-up, statements are re-prepared once
    const auto before = sqlite ? sqlite->reprepare_count() : 0;
    for (int i = 0; i < 3; ++i) CHECK(search() == 1);
    // Nothing in the ORM's path (a PRAGMA, say) expires the prepared statements.
    if (sqlite) CHECK(sqlite->reprepare_count() == before);
}

TEST_CASE("modules: inactive records are hidden unless inactive_records()") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const model& m = current_pool()->get("test.types");
    m.create(json::array({{{"name", "on"}}, {{"name", "off"}, {"active", false}}}));
    CHECK(m.search_count(json::array()) == 1);
    CHECK(m.search_count(json::array({leaf("active", "=", false)})) == 1);
    auto guard = inactive_records();
    CHECK(m.search_count(json::array()) == 2);
}

TEST_CASE("modules: bookkeeping: counter, create_records, delete_records") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const model& m = current_pool()->get("test.types");
    auto& txn = current();
    const auto before = txn.counter;
    const auto ids = m.create(json::array({{{"name", "a"}}, {{"name", "b"}}}));
    CHECK(txn.counter == before + 1);
    CHECK(txn.create_records["test.types"] == ids);
    m.write(ids, {{"name", "c"}});
    CHECK(txn.counter == before + 2);
    m.remove({ids[0]});
    CHECK(txn.counter == before + 3);
    CHECK(txn.delete_records["test.types"] == std::set<std::int64_t>{ids[0]});
    CHECK_THROWS_WITH_AS(m.read({ids[0]}), doctest::Contains("does not exist"), user_error);
}

TEST_CASE("modules: write, one2many and many2many commands, delete cascades") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const model& m = p->get("test.types");
    const model& tags = p->get("test.tag");
    const auto t = tags.create(json::array({{{"name", "x"}}, {{"name", "y"}}, {{"name", "z"}}}));
    const auto a = m.create(json::array({{{"name", "a"}}, {{"name", "b"}}}));
    m.write({a[0]}, {{"tags", json::array({json::array({"add", {t[0], t[1]}})})}});
    CHECK(m.read({a[0]}, {"tags"})[0]["tags"] == json({t[0], t[1]}));
    m.write({a[0]}, {{"tags", json::array({json::array({"set", {t[2]}})})}});
    CHECK(m.read({a[0]}, {"tags"})[0]["tags"] == json({t[2]}));
    m.write({a[0]}, {{"children", json::array({json::array({"create", json::array({{{"name", "k"}}})})})}});
    const auto kids = m.read({a[0]}, {"children"})[0]["children"].get<modules::ids>();
    REQUIRE(kids.size() == 1);
    // Several (ids, values) pairs in one call, as over RPC.
    const auto* write = p->find_method("model.test.types.write");
    REQUIRE(write);
    write->call({json::array({json::array({a[0]}), {{"count", 1}}, json::array({a[1]}), {{"count", 2}}}), json::object()});
    CHECK(m.read(a, {"count"}) == json::array({{{"id", a[0]}, {"count", 1}}, {{"id", a[1]}, {"count", 2}}}));
    m.remove({a[0]});
    CHECK(p->get("test.child").search_count(json::array()) == 0);  // cascade
    tags.remove({t[2]});
    CHECK(m.read({a[1]}, {"tags"})[0]["tags"].empty());
}

TEST_CASE("modules: optimistic locking with _timestamp") {
    modules_database f;
    std::int64_t id = 0;
    std::string stamp;
    {
        auto scope = begin(f.db(), root_user);
        const model& m = current_pool()->get("test.types");
        id = m.create(json::array({{{"name", "a"}}}))[0];
        stamp = m.read({id}, {"_timestamp"})[0]["_timestamp"];
    }
    {
        auto scope = begin(f.db(), root_user);
        current_pool()->get("test.types").write({id}, {{"name", "b"}});  // someone else writes later
    }
    {
        auto scope = begin(f.db(), root_user, {.context = {{"_timestamp", {{"test.types," + std::to_string(id), stamp}}}}});
        const model& m = current_pool()->get("test.types");
        CHECK_THROWS_AS(m.write({id}, {{"name", "c"}}), concurrency_exception);
        CHECK_THROWS_AS(m.remove({id}), concurrency_exception);
    }
    {
        auto scope = begin(f.db(), root_user);
        const model& m = current_pool()->get("test.types");
        const std::string fresh = m.read({id}, {"_timestamp"})[0]["_timestamp"];
        current().timestamp["test.types," + std::to_string(id)] = fresh;
        m.write({id}, {{"name", "c"}});  // up to date: allowed
        current().timestamp["test.types," + std::to_string(id)] = stamp;
        CHECK_THROWS_AS(m.remove({id}), concurrency_exception);
    }
}

TEST_CASE("modules: copy, fields_get, default_get") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const model& m = p->get("test.types");
    const auto a = m.create(json::array({{{"name", "orig"}, {"price", dec("1.10")}}}));
    const auto c = m.copy(a, {{"name", "copy"}});
    CHECK(m.read(c, {"name", "price"})[0] == json({{"id", c[0]}, {"name", "copy"}, {"price", dec("1.10")}}));
    const json fg = m.fields_get({"name", "kind", "owner"});
    CHECK(fg["name"]["type"] == "char");
    CHECK(fg["name"]["help"] == "A short name");
    CHECK(fg["kind"]["selection"] == json::array({{"a", "Alpha"}, {"b", "Beta"}}));
    CHECK(fg["owner"]["relation"] == "res.user");
    CHECK(m.default_get({"label", "active", "name"}) == json({{"label", "unnamed"}, {"active", true}}));
}

TEST_CASE("modules: updating keeps data and adds new columns") {
    modules_database f;
    {
        auto scope = begin(f.db(), root_user);
        current_pool()->get("test.types").create(json::array({{{"name", "kept"}}}));
        current().connection().execute("ALTER TABLE \"test_types\" DROP COLUMN \"notes\"");  // an older schema
    }
    update_database(f.db());
    auto scope = begin(f.db(), root_user);
    const model& m = current_pool()->get("test.types");
    CHECK(m.search_read(json::array(), {}, {"name", "notes"}) ==
          json::array({{{"id", 1}, {"name", "kept"}, {"notes", nullptr}}}));
    // Init again is idempotent.
    scope.close(true);
    init_database(f.db(), {"sale", "test_types"}, "");
    auto again = begin(f.db(), root_user);
    CHECK(current_pool()->get("test.types").search_count(json::array()) == 1);
    CHECK(current_pool()->get("res.user").search_count(json::array({leaf("login", "=", "admin")})) == 1);
}

TEST_CASE("modules: the registry resolves dependencies and reports unknown modules and cycles") {
    module_registry r;
    r.add({"a", {"b"}, "", {}, {}, {}, {}, {}});
    r.add({"b", {}, "", {}, {}, {}, {}, {}});
    r.add({"c", {"d"}, "", {}, {}, {}, {}, {}});
    r.add({"d", {"c"}, "", {}, {}, {}, {}, {}});
    r.add({"e", {"missing"}, "", {}, {}, {}, {}, {}});
    const auto order = r.resolve({"a"});
    REQUIRE(order.size() == 2);
    CHECK(order[0]->name == "b");
    CHECK(order[1]->name == "a");
    CHECK_THROWS_WITH_AS(r.resolve({"c"}), doctest::Contains("c -> d -> c"), dependency_cycle);
    CHECK_THROWS_WITH_AS(r.resolve({"e"}), doctest::Contains("missing"), unknown_module);
    CHECK_THROWS_AS(r.resolve({"zzz"}), unknown_module);
    CHECK_THROWS_AS(r.add({"a", {}, "", {}, {}, {}, {}, {}}), std::logic_error);
}

TEST_CASE("modules: values: decimals are exact") {
    CHECK((decimal::parse("0.1") + decimal::parse("0.2")) == decimal::parse("0.3"));
    CHECK((decimal::parse("2.5") * decimal::parse("1.15")).to_string() == "2.875");
    CHECK(decimal::parse("2.875").rounded(2).to_string() == "2.88");
    CHECK(decimal::parse("-2.875").rounded(2).to_string() == "-2.88");
    CHECK(decimal::parse("-0.05").to_string() == "-0.05");
    CHECK_THROWS_AS(decimal::parse("1e5"), value_error);
    const auto big = decimal::parse("99999999999999999999999");
    CHECK_THROWS_AS(big * big, value_error);  // never wraps around
    CHECK_THROWS_AS(decimal::parse(std::string(37, '9')), value_error);
    CHECK(base64_decode("AAEC\n/w==") == std::vector<unsigned char>{0, 1, 2, 255});
    CHECK(base64_encode(std::vector<unsigned char>(60, 'a')).find('\n') == 76);  // MIME lines
    const json t = {{"__class__", "time"}, {"hour", 23}, {"minute", 59}, {"second", 1}, {"microsecond", 5}};
    CHECK(to_json(time_from_json(t)) == t);
    CHECK(timedelta_from_json({{"__class__", "timedelta"}, {"seconds", 1.5}}).microseconds == 1500000);
    CHECK(to_json(timedelta{-2500000})["seconds"] == -2.5);
    CHECK_THROWS_AS(time_from_json({{"__class__", "time"}, {"hour", 24}, {"minute", 0}, {"second", 0}, {"microsecond", 0}}),
                    value_error);
    CHECK_THROWS_AS(datetime_from_json({{"__class__", "datetime"}, {"year", 2026}}), value_error);
    CHECK(datetime::parse_sql("2026-12-01 21:05:09.5").microsecond == 500000);
}

TEST_CASE("modules: the standard methods over their RPC definitions") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    auto call = [&](const char* method, json args) {
        const auto* m = p->find_method(std::string("model.test.types.") + method);
        REQUIRE(m);
        return m->call({std::move(args), json::object()});
    };
    const json ids = call("create", json::array({json::array({{{"name", "a"}, {"count", 1}}, {{"name", "b"}, {"count", 2}},
                                                              {{"name", "c"}, {"count", 3}}})}));
    REQUIRE(ids.size() == 3);
    CHECK(call("search", json::array({json::array({leaf("count", ">", 1)}), 0, 1, json::array({json::array({"count", "DESC"})})})) ==
          json::array({ids[2]}));
    CHECK(call("search", json::array({json::array(), 0, nullptr, nullptr, true})) == 3);
    CHECK(call("search_count", json::array({json::array({leaf("name", "in", {"a", "b"})})})) == 2);
    CHECK(call("search_read", json::array({json::array({leaf("name", "=", "b")}), 0, nullptr, nullptr, json::array({"count"})})) ==
          json::array({{{"id", ids[1]}, {"count", 2}}}));
    const json copies = call("copy", json::array({json::array({ids[0], ids[0]}), {{"name", "a2"}}}));
    CHECK(copies.size() == 2);
    call("delete", json::array({copies}));
    CHECK(call("search_count", json::array({json::array()})) == 3);
    CHECK(call("default_get", json::array({json::array({"label"})})) == json({{"label", "unnamed"}}));
    CHECK(call("fields_get", json::array({json::array({"count"})}))["count"]["type"] == "integer");
    CHECK(call("read", json::array({ids[0], json::array({"name"})})) == json::array({{{"id", ids[0]}, {"name", "a"}}}));
    CHECK_THROWS_AS(call("write", json::array({json::array({ids[0]})})), user_error);  // values missing
    CHECK_THROWS_AS(call("read", json::array({"x", json::array()})), user_error);
    const auto* c = p->find_method("model.test.types.create");
    CHECK_FALSE(c->rpc.readonly);
    CHECK(p->find_method("model.test.types.fields_get")->rpc.cache.has_value());
    CHECK(p->find_method("model.test.types.delete")->rpc.instantiate.how == rpc_instantiate::kind::index);
}
