// SPEC §1.4: context, user and access scopes.

#include "tests/support/test_database.hpp"
#include "transaction/errors.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

using namespace atrium;
using atrium::test::test_database;
using nlohmann::json;

TEST_CASE("§1.4 set_context merges old, values and extra (later wins) and restores at the guard's end") {
    test_database f;
    auto scope = begin(f.db, 1, {.context = {{"a", 1}, {"b", 1}}});
    auto before = scope->shared_context();
    {
        auto guard = set_context({{"b", 2}, {"c", 2}}, {{"c", 3}});
        CHECK(current().context() == json{{"a", 1}, {"b", 2}, {"c", 3}});
    }
    CHECK(current().context() == json{{"a", 1}, {"b", 1}});
    // The saved context is shared, not copied.
    CHECK(scope->shared_context() == before);
}

TEST_CASE("§1.4 guards apply at once; release() keeps the change") {
    test_database f;
    auto scope = begin(f.db, 1);
    {
        auto guard = set_context({{"kept", true}});
        guard.release();
    }
    CHECK(scope->context() == json{{"kept", true}});
}

TEST_CASE("§1.4 set_context rejects a non-map") {
    test_database f;
    auto scope = begin(f.db, 1, {.context = {{"a", 1}}});
    CHECK_THROWS_AS((void)set_context(json::array({1})), type_error);
    CHECK(scope->context() == json{{"a", 1}});
}

TEST_CASE("§1.4 reset_context empties the context and restores it") {
    test_database f;
    auto scope = begin(f.db, 1, {.context = {{"a", 1}}});
    {
        auto guard = reset_context();
        CHECK(current().context().empty());
    }
    CHECK(current().context() == json{{"a", 1}});
}

TEST_CASE("§1.4 set_user with set_context is only allowed for root and changes nothing when refused") {
    test_database f;
    auto scope = begin(f.db, 0, {.context = {{"user", 9}}});
    CHECK_THROWS_WITH_AS((void)set_user(5, true), "set_context only allowed for root", value_error);
    CHECK(scope->user() == 0);
    CHECK(scope->context() == json{{"user", 9}});
}

TEST_CASE("§1.4 set_user(root, set_context) records the previous user when it changes") {
    test_database f;
    auto scope = begin(f.db, 5);
    {
        auto guard = set_user(root_user, true);
        CHECK(scope->user() == root_user);
        CHECK(scope->context() == json{{"user", 5}});
    }
    CHECK(scope->user() == 5);
    CHECK(scope->context().empty());
}

TEST_CASE("§1.4 set_user(root, set_context) to the same user leaves context[user] as it was") {
    test_database f;
    auto scope = begin(f.db, root_user, {.context = {{"user", 12}}});
    auto guard = set_user(root_user, true);
    CHECK(scope->context() == json{{"user", 12}});
}

TEST_CASE("§1.4 set_user without set_context removes context[user]; both are restored") {
    test_database f;
    auto scope = begin(f.db, 0, {.context = {{"user", 3}, {"x", 1}}});
    {
        auto guard = set_user(8);
        CHECK(scope->user() == 8);
        CHECK(scope->context() == json{{"x", 1}});
    }
    CHECK(scope->user() == 0);
    CHECK(scope->context() == json{{"user", 3}, {"x", 1}});
}

TEST_CASE("§1.4 access and active scopes set their context keys and restore them") {
    test_database f;
    auto scope = begin(f.db, 2);
    {
        auto guard = checking_access();
        CHECK(scope->access_checked());
        {
            auto inner = without_check_access();
            CHECK_FALSE(scope->access_checked());
        }
        CHECK(scope->access_checked());
    }
    CHECK_FALSE(scope->access_checked());
    {
        auto guard = inactive_records();
        CHECK_FALSE(scope->active_records());
        auto inner = active_records();
        CHECK(scope->active_records());
    }
    CHECK(scope->active_records());
}

TEST_CASE("§1.4 access and active scopes as function wrappers") {
    test_database f;
    auto scope = begin(f.db, 2);
    CHECK(with_checking_access([] { return current().access_checked(); }));
    CHECK_FALSE(with_without_check_access([] { return current().access_checked(); }));
    CHECK_FALSE(with_inactive_records([] { return current().active_records(); }));
    CHECK(with_active_records([] { return current().active_records(); }));
    CHECK_FALSE(scope->access_checked());
}

TEST_CASE("§1.4 a guard restores the transaction that created it, whatever is current") {
    test_database f;
    auto outer = begin(f.db, 1, {.readonly = true, .context = {{"who", "outer"}}});
    auto guard = set_context({{"changed", true}});
    {
        auto inner = new_transaction({.readonly = true});
        CHECK(inner->context()["changed"] == true);
        guard.restore();
        CHECK(inner->context()["changed"] == true);
    }
    CHECK(outer->context() == json{{"who", "outer"}});
}
