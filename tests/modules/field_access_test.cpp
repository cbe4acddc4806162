// Issue 17: fields the caller may not read (secret fields, fields of models
// the caller may not read) are unusable in domains, dotted paths, orders and
// read fields; integer fields take any integral number; `_timestamp` kept as
// given. Run on both backends.
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "modules/res/auth.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {

struct fixture {
    modules_database f;
    std::int64_t alice = 0, order = 0, typed = 0, child = 0, tag = 0;

    fixture() {
        auto scope = begin(f.db(), root_user);
        const auto p = current_pool();
        alice = p->get("res.user").create(json::array({{{"name", "Alice"}, {"login", "alice"},
                                                         {"password", "alice-Secret-1"}}}))[0];
        order = p->get("sale.order").create(json::array({{{"customer", "C"}, {"salesman", 1}}}))[0];
        tag = p->get("test.tag").create(json::array({{{"name", "red"}}}))[0];
        typed = p->get("test.types").create(json::array({{{"name", "t"}, {"owner", 1}, {"count", 3},
                                                          {"tags", json::array({json::array({"add", {tag}})})}}}))[0];
        child = p->get("test.child").create(json::array({{{"name", "c"}, {"parent", typed}}}))[0];
        // Tags and user warnings: readable by administrators only.
        const auto admins = p->get("res.group").search(json::array({leaf("name", "=", "Administration")}));
        for (const char* m : {"test.tag", "res.user.warning"})
            p->get("ir.model.access").create(json::array({{{"model", m}, {"group", admins.at(0)}, {"perm_read", true}}}));
    }
};

search_options ordered(json order) {
    search_options o;
    o.order = std::move(order);
    return o;
}

}  // namespace

TEST_CASE("modules: a secret field is unusable in domains, dotted paths, orders and read fields") {
    fixture x;
    auto scope = begin(x.f.db(), root_user);
    const auto p = current_pool();
    const model& users = p->get("res.user");
    const model& orders = p->get("sale.order");
    const model& types = p->get("test.types");
    {
        auto as_alice = set_user(x.alice);
        auto checked = checking_access();
        const auto denied = doctest::Contains("not allowed");
        // The attack of the issue: a LIKE prefix at a time through a relation.
        CHECK_THROWS_WITH_AS(orders.search_count(json::array({leaf("salesman.password_hash", "like", "$argon2id$%")})),
                             denied, access_error);
        CHECK_THROWS_AS(orders.search(json::array({leaf("salesman.password_hash", "like", "$%")})), access_error);
        // Nested in OR, through create_uid, with every kind of operator.
        CHECK_THROWS_AS(orders.search(json::array({"OR", leaf("customer", "=", "C"),
                                                   leaf("salesman.password_hash", "!=", nullptr)})),
                        access_error);
        CHECK_THROWS_AS(types.search(json::array({leaf("create_uid.password_hash", ">=", "$")})), access_error);
        CHECK_THROWS_AS(types.search(json::array({leaf("owner.password_hash", "in", json::array({"a"}))})),
                        access_error);
        // A direct domain on the model itself.
        CHECK_THROWS_WITH_AS(users.search_count(json::array({leaf("password_hash", "like", "$argon2id$%")})), denied,
                             access_error);
        CHECK_THROWS_AS(users.search(json::array({leaf("password_hash", "ilike", "%a%")})), access_error);
        // order, on the model and through a path.
        CHECK_THROWS_AS(users.search(json::array(), ordered(json::array({json::array({"password_hash", "ASC"})}))),
                        access_error);
        CHECK_THROWS_AS(users.search(json::array(), ordered(json::array({"password_hash"}))), access_error);
        CHECK_THROWS_AS(orders.search(json::array(),
                                      ordered(json::array({json::array({"salesman.password_hash", "DESC"})}))),
                        access_error);
        // read and search_read fields, plain and dotted.
        CHECK_THROWS_AS(users.read({1}, {"password_hash"}), access_error);
        CHECK_THROWS_AS(users.search_read(json::array(), {}, {"login", "password_hash"}), access_error);
        CHECK_THROWS_AS(orders.search_read(json::array(), {}, {"salesman.password_hash"}), access_error);
        CHECK_THROWS_AS(orders.read({x.order}, {"salesman.password_hash"}), access_error);
        // What is allowed stays allowed; a readable dotted read field comes back nested (issue 18).
        CHECK(orders.search_count(json::array({leaf("salesman.login", "=", "admin")})) == 1);
        CHECK(users.search(json::array({leaf("login", "=", "admin")}), ordered(json::array({"login"}))) == ids{1});
        CHECK(orders.search_read(json::array(), {}, {"customer", "salesman"}).size() == 1);
        const json dotted = orders.read({x.order}, {"salesman.login"});
        CHECK(dotted[0]["salesman."]["login"] == "admin");
        CHECK_FALSE(dotted[0].contains("salesman"));
        // fields_get leaves the secret field out (as Tryton leaves out fields the caller may not read).
        CHECK_FALSE(users.fields_get().contains("password_hash"));
        CHECK(users.fields_get().contains("login"));
    }
    CHECK(users.fields_get().contains("password_hash"));  // module code sees every field
    {
        // Root, and module code under without_check_access(), keep every field.
        auto checked = checking_access();
        CHECK(users.search_count(json::array({leaf("password_hash", "like", "$argon2id$%")})) == 2);
        CHECK(orders.search_count(json::array({leaf("salesman.password_hash", "like", "$argon2id$%")})) == 1);
        auto as_alice = set_user(x.alice);
        auto internal = without_check_access();
        CHECK(users.search(json::array({leaf("password_hash", "!=", nullptr)}),
                           ordered(json::array({"password_hash"}))).size() == 2);
        CHECK(users.read({1}, {"password_hash"})[0]["password_hash"].get<std::string>().starts_with("$argon2id$"));
    }
    // Login still verifies the hashes.
    res::session_settings s;
    CHECK(res::login("alice", {{"password", "alice-Secret-1"}}, "192.0.2.7", s) == x.alice);
    CHECK(res::login("alice", {{"password", "wrong"}}, "192.0.2.7", s) == 0);
}

TEST_CASE("modules: every model a dotted path crosses must be readable") {
    fixture x;
    auto scope = begin(x.f.db(), root_user);
    const auto p = current_pool();
    const model& types = p->get("test.types");
    const model& children = p->get("test.child");
    const model& users = p->get("res.user");
    auto as_alice = set_user(x.alice);
    auto checked = checking_access();
    const auto denied = doctest::Contains("not allowed to read records");
    // many2many and one2many paths into a model alice may not read.
    CHECK_THROWS_WITH_AS(types.search(json::array({leaf("tags.name", "=", "red")})), denied, access_error);
    CHECK_THROWS_WITH_AS(users.search_count(json::array({leaf("warnings.name", "like", "%")})), denied, access_error);
    // A bare x2many compares the target's ids: it crosses too.
    CHECK_THROWS_AS(types.search(json::array({leaf("tags", "in", json::array({x.tag}))})), access_error);
    // Readable first crossings, an unreadable one further on.
    CHECK_THROWS_WITH_AS(children.search(json::array({leaf("parent.tags.name", "=", "red")})), denied, access_error);
    CHECK_THROWS_AS(types.search(json::array({leaf("children.parent.tags.name", "=", "red")})), access_error);
    CHECK_THROWS_AS(children.search(json::array(), ordered(json::array({"parent.tags.name"}))), access_error);
    CHECK_THROWS_AS(children.search_read(json::array(), {}, {"parent.tags.name"}), access_error);
    // Readable paths, x2many ones included, still work.
    CHECK(children.search(json::array({leaf("parent.owner.login", "=", "admin")})) == ids{x.child});
    CHECK(types.search(json::array({leaf("children.name", "=", "c")})) == ids{x.typed});
    CHECK(types.search(json::array({leaf("children", "in", json::array({x.child}))})) == ids{x.typed});
    // Root reaches everything.
    auto as_root = set_user(root_user);
    CHECK(types.search(json::array({leaf("tags.name", "=", "red")})) == ids{x.typed});
}

TEST_CASE("modules: integer fields and ids take any number with an integral value") {
    fixture x;
    auto scope = begin(x.f.db(), root_user);
    const model& types = current_pool()->get("test.types");
    auto checked = checking_access();
    const ids one{x.typed};
    const json id_dec = {{"__class__", "Decimal"}, {"decimal", std::to_string(x.typed) + ".00"}};
    CHECK(types.search(json::array({leaf("id", "=", id_dec)})) == one);
    CHECK(types.search(json::array({leaf("id", "in", json::array({id_dec, 1e9}))})) == one);
    CHECK(types.search(json::array({leaf("id", "=", static_cast<double>(x.typed))})) == one);
    CHECK(types.search(json::array({leaf("count", "=", 3.0), leaf("count", ">=", dec("3"))})) == one);
    CHECK(types.search(json::array({leaf("owner", "=", dec("1")), leaf("owner.id", "<=", 1.0)})) == one);
    // A value that is not an integer is a clear user error naming the field.
    const auto not_integer = doctest::Contains("not an integer");
    CHECK_THROWS_WITH_AS(types.search(json::array({leaf("id", "=", dec("1.5"))})), not_integer, user_error);
    CHECK_THROWS_WITH_AS(types.search(json::array({leaf("count", "in", json::array({2.5}))})), not_integer, user_error);
    CHECK_THROWS_AS(types.search(json::array({leaf("id", "=", 1e300)})), user_error);
    CHECK_THROWS_AS(types.search(json::array({leaf("id", "=", dec("99999999999999999999"))})), user_error);
    CHECK_THROWS_WITH_AS(types.search(json::array({leaf("id", "=", "1")})), doctest::Contains("\"ID\""), user_error);
    // Writes take them too.
    types.write(one, {{"count", dec("7.000")}});
    CHECK(types.read(one, {"count"})[0]["count"] == 7);
    types.write(one, {{"count", 8.0}});
    CHECK(types.read(one, {"count"})[0]["count"] == 8);
    CHECK_THROWS_AS(types.write(one, {{"count", dec("7.1")}}), user_error);
}

TEST_CASE("modules: a non-object _timestamp is kept; a write refuses it rather than skip the lock") {
    fixture x;
    const ids one{x.typed};
    std::string stamp;
    {
        auto scope = begin(x.f.db(), root_user);
        stamp = current_pool()->get("test.types").read(one, {"_timestamp"})[0]["_timestamp"];
    }
    for (const json& kept : {json("2000-01-01 00:00:00"), json(5), json(true), json::array({stamp})}) {
        auto scope = begin(x.f.db(), root_user);
        const model& types = current_pool()->get("test.types");
        current().timestamp = kept;
        CHECK(types.read(one, {"name"}).size() == 1);  // reads are not concerned
        CHECK_THROWS_WITH_AS(types.write(one, {{"name", "u"}}), doctest::Contains("_timestamp"), user_error);
        CHECK_THROWS_AS(types.remove(one), user_error);
        CHECK(current().timestamp == kept);  // still as given
    }
    for (const json& none : {json(nullptr), json(""), json(false), json(0), json::array(), json::object()}) {
        auto scope = begin(x.f.db(), root_user);
        current().timestamp = none;
        CHECK_NOTHROW(current_pool()->get("test.types").write(one, {{"name", "v"}}));
    }
    {
        // The same rule for a `_timestamp` module code puts in the context.
        auto scope = begin(x.f.db(), root_user, {.context = {{"_timestamp", "yesterday"}}});
        CHECK_THROWS_AS(current_pool()->get("test.types").write(one, {{"name", "w"}}), user_error);
    }
    {
        // A mapping still works, a null value in it skips that record (as in Tryton).
        auto scope = begin(x.f.db(), root_user);
        const model& types = current_pool()->get("test.types");
        current().timestamp = {{"test.types," + std::to_string(x.typed), nullptr}};
        CHECK_NOTHROW(types.write(one, {{"name", "x"}}));
        current().timestamp = {{"test.types," + std::to_string(x.typed), stamp}};
        CHECK_THROWS_AS(types.write(one, {{"name", "y"}}), concurrency_exception);
    }
}
