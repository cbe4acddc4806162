// SPEC §6.3 argument conversion and §7.1 Authorization parsing.
#include "server/dispatch/argument_conversion.hpp"
#include "server/dispatch/authorization.hpp"
#include "server/dispatch/dispatcher.hpp"
#include "transaction/errors.hpp"

#include <doctest/doctest.h>

using atrium::server::convert_arguments;
using json = nlohmann::json;

TEST_SUITE("dispatch") {

TEST_CASE("§6.3 the context is the last positional argument, cleaned of _ keys but _datetime") {
    atrium::modules::rpc_definition rpc;
    rpc.check_access = false;
    auto c = convert_arguments(rpc, json::array({json::array({1, 2}), json::array({"name"}),
                                                 {{"language", "fr"}, {"_timestamp", {{"res.user,1", "t1"}}},
                                                  {"_datetime", "x"}, {"_check_access", true}}}),
                               json::object());
    CHECK(c.call.args == json::array({json::array({1, 2}), json::array({"name"})}));
    CHECK(c.context == json({{"language", "fr"}, {"_datetime", "x"}}));
    CHECK(c.timestamp == json({{"res.user,1", "t1"}}));
}

TEST_CASE("§6.3 a non-object _timestamp is kept as given (as Tryton does), and removed from the context") {
    atrium::modules::rpc_definition rpc;
    for (const json& given : {json("2000-01-01 00:00:00"), json(7), json::array({1}), json(nullptr), json(true)}) {
        auto c = convert_arguments(rpc, json::array({{{"_timestamp", given}}}), json::object());
        CHECK(c.timestamp == given);
        CHECK_FALSE(c.context.contains("_timestamp"));
    }
    CHECK(convert_arguments(rpc, json::array({json::object()}), json::object()).timestamp == json::object());
}

TEST_CASE("§6.3 a context keyword wins and must be a dictionary") {
    atrium::modules::rpc_definition rpc;
    auto c = convert_arguments(rpc, json::array({1}), {{"context", {{"a", 1}}}, {"limit", 3}});
    CHECK(c.call.args == json::array({1}));
    CHECK(c.call.kwargs == json({{"limit", 3}}));
    CHECK(c.context == json({{"a", 1}, {"_check_access", true}}));
    CHECK_THROWS_AS(convert_arguments(rpc, json::array(), {{"context", 5}}), atrium::type_error);
}

TEST_CASE("§6.3 a missing context is an error") {
    atrium::modules::rpc_definition rpc;
    CHECK_THROWS_WITH_AS(convert_arguments(rpc, json::array(), json::object()), "Missing context argument",
                         atrium::value_error);
    CHECK_THROWS_AS(convert_arguments(rpc, json::array({1, 2}), json::object()), atrium::value_error);
}

TEST_CASE("§6.3 instantiated arguments: ids, duplicate ids, slices") {
    atrium::modules::rpc_definition rpc;
    rpc.instantiate.how = atrium::modules::rpc_instantiate::kind::index;
    CHECK_NOTHROW(convert_arguments(rpc, json::array({json::array({1, 2}), json::object()}), json::object()));
    CHECK_THROWS_WITH_AS(convert_arguments(rpc, json::array({json::array({1, 1}), json::object()}), json::object()),
                         "Duplicate ids", atrium::value_error);
    CHECK_THROWS_AS(convert_arguments(rpc, json::array({"x", json::object()}), json::object()), atrium::type_error);
    rpc.unique = false;
    CHECK_NOTHROW(convert_arguments(rpc, json::array({json::array({1, 1}), json::object()}), json::object()));

    atrium::modules::rpc_definition write;
    write.instantiate = {atrium::modules::rpc_instantiate::kind::slice, 0, 0, 2};
    CHECK_NOTHROW(convert_arguments(
        write, json::array({json::array({1}), {{"a", 1}}, json::array({2}), {{"b", 2}}, json::object()}),
        json::object()));
    CHECK_THROWS_AS(convert_arguments(write, json::array({json::array({1}), {{"a", 1}}, "bad", {{"b", 2}},
                                                          json::object()}),
                                      json::object()),
                    atrium::type_error);
}

TEST_CASE("§7.1 Session and Basic authorization headers") {
    using namespace atrium::server;
    // base64("admin:1:abc") and base64("admin:secret")
    auto s = parse_authorization("Session YWRtaW46MTphYmM=");
    REQUIRE(std::holds_alternative<session_credentials>(s));
    CHECK(std::get<session_credentials>(s).login == "admin");
    CHECK(std::get<session_credentials>(s).user == 1);
    CHECK(std::get<session_credentials>(s).key == "abc");
    auto b = parse_authorization("Basic YWRtaW46c2VjcmV0");
    REQUIRE(std::holds_alternative<basic_credentials>(b));
    CHECK(std::get<basic_credentials>(b).password == "secret");
    // four parts ("a:1:b:c"), a non-integer id ("a:x:b"), bad base64, unknown scheme
    CHECK(std::holds_alternative<std::monostate>(parse_authorization("Session YToxOmI6Yw==")));
    CHECK(std::holds_alternative<std::monostate>(parse_authorization("Session YTp4OmI=")));
    CHECK(std::holds_alternative<std::monostate>(parse_authorization("Session !!!")));
    CHECK(std::holds_alternative<std::monostate>(parse_authorization("Bearer abc")));
    CHECK(std::holds_alternative<std::monostate>(parse_authorization("")));
}

TEST_CASE("database names in URLs are plain identifiers") {
    using atrium::server::dispatcher;
    CHECK(dispatcher::valid_database_name("atrium"));
    CHECK(dispatcher::valid_database_name("shop_2-test.v1"));
    CHECK_FALSE(dispatcher::valid_database_name(""));
    CHECK_FALSE(dispatcher::valid_database_name("../etc"));
    CHECK_FALSE(dispatcher::valid_database_name("a/b"));
    CHECK_FALSE(dispatcher::valid_database_name("a'b"));
    CHECK_FALSE(dispatcher::valid_database_name(".hidden"));
    CHECK_FALSE(dispatcher::valid_database_name(std::string(64, 'a')));
}

}
