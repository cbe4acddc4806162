// Failures the client can act on (issue 17, points 8, 11, 12): what the
// dispatcher and the codec answer when the database is down or full, when an
// argument is bad, and the shape of each answer on the wire.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "modules/errors.hpp"
#include "server/dispatch/dispatcher.hpp"
#include "server/http_rules.hpp"
#include "server/jsonrpc_codec.hpp"
#include "server/rpc_handler.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

using namespace atrium;
using namespace atrium::server;
using json = nlohmann::json;

namespace {

// A loopback port nobody listens on (bound, then closed).
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

// A dispatcher on a PostgreSQL server that is down.
struct down_fixture {
    std::shared_ptr<db::backend> backend =
        db::open_backend("postgresql://postgres@127.0.0.1:" + std::to_string(closed_port()) + "/");
    dispatcher handler{backend, [] {
                           dispatcher_settings settings;
                           settings.retry = 1;
                           return settings;
                       }()};
    rpc_call_context context;
    down_fixture() {
        context.database = "atrium";
        context.request_id = "r1";
    }
    rpc_http_reply call(const std::string& body) { return handle_jsonrpc(body, "application/json", context, handler); }
};

std::optional<std::string> header(const rpc_http_reply& reply, const std::string& name) {
    for (const auto& [key, value] : reply.headers)
        if (key == name) return value;
    return std::nullopt;
}

bool ascii_only(const std::string& text) {
    for (const unsigned char c : text)
        if (c >= 0x80) return false;
    return true;
}

// Throws what it is told, for the codec's shapes.
struct raising_handler final : rpc_handler {
    rpc_result handle(const rpc_request& request) override {
        if (request.method == "unavailable") throw service_unavailable("Service unavailable: try again", 3);
        if (request.method == "no_domain") throw modules::user_error("Nope", "Not like this");
        return {json(nullptr)};
    }
};

}  // namespace

TEST_SUITE("dispatch errors") {

TEST_CASE("PostgreSQL down: the dispatcher answers 503 with Retry-After, not 404 or an internal error") {
    down_fixture f;
    const std::string method = "model.res.user.read";
    const json params = json::array({json::array({1}), json::array({"name"}), json::object()});
    const json kwargs = json::object();
    const std::string empty;
    const std::optional<std::string> database = "atrium";
    dispatch_request request{database, method, params, kwargs, empty, empty, empty, empty};
    try {
        f.handler.dispatch(request);
        FAIL("no exception");
    } catch (const service_unavailable& error) {
        CHECK(error.status() == 503);
        REQUIRE(error.retry_after_seconds());
        CHECK(*error.retry_after_seconds() > 0);
    }
}

TEST_CASE("PostgreSQL down on the wire: Tryton gets HTTP 503 + Retry-After, JSON-RPC 2.0 gets -32050 retryable") {
    down_fixture f;
    const auto tryton = f.call(R"({"id": 1, "method": "model.res.user.read", "params": [[1], ["name"], {}]})");
    CHECK(tryton.status == 503);
    CHECK(header(tryton, "Retry-After").has_value());
    CHECK(tryton.body.find("Internal error") == std::string::npos);

    const auto v2 = f.call(R"({"jsonrpc": "2.0", "id": 1, "method": "model.res.user.read", "params": [[1], ["name"], {}]})");
    CHECK(v2.status == 503);
    CHECK(header(v2, "Retry-After").has_value());
    REQUIRE(v2.content_type == "application/json");
    const auto body = json::parse(v2.body);
    CHECK(body["error"]["code"] == -32050);
    CHECK(body["error"]["data"]["retryable"] == true);
    CHECK(body["error"]["data"]["retry_after"].is_number_integer());
}

TEST_CASE("503 inside a JSON-RPC 2.0 batch is the member's error, the batch stays HTTP 200") {
    raising_handler handler;
    rpc_call_context context;
    context.request_id = "r1";
    const auto reply = handle_jsonrpc(
        R"([{"jsonrpc": "2.0", "id": 1, "method": "unavailable"}, {"jsonrpc": "2.0", "id": 2, "method": "ok"}])",
        "application/json", context, handler);
    CHECK(reply.status == 200);
    const auto body = json::parse(reply.body);
    REQUIRE(body.size() == 2);
    CHECK(body[0]["error"]["code"] == -32050);
    CHECK(body[0]["error"]["data"]["retryable"] == true);
    CHECK(body[0]["error"]["data"]["retry_after"] == 3);
    CHECK(body[1]["result"].is_null());
}

TEST_CASE("user_error without a domain sends null as the domain, as Tryton does") {
    CHECK(modules::user_error("x").payload() == json::array({"UserError", json::array({"x", "", nullptr})}));
    CHECK(modules::user_error("x", "y", json::array({"a", "=", 1})).payload()[1][2] == json::array({"a", "=", 1}));
    raising_handler handler;
    rpc_call_context context;
    context.request_id = "r1";
    const auto reply = handle_jsonrpc(R"({"id": 1, "method": "no_domain", "params": []})", "application/json", context,
                                      handler);
    CHECK(json::parse(reply.body)["error"] == json::array({"UserError", json::array({"Nope", "Not like this", nullptr})}));
}

TEST_CASE("a database name the backend refuses ('.') is a user error that says why") {
    atrium::test::temp_dir dir;
    std::shared_ptr<db::backend> backend = db::open_backend("sqlite://" + dir.path().string());
    dispatcher handler{backend, dispatcher_settings{}};
    const std::string method = "common.db.login";
    const json params = json::array({"admin", json::object({{"password", "x"}}), "en"});
    const json kwargs = json::object();
    const std::string empty;
    const std::optional<std::string> database = "a.b";
    dispatch_request request{database, method, params, kwargs, empty, empty, empty, empty};
    try {
        handler.dispatch(request);
        FAIL("no exception");
    } catch (const modules::user_error& error) {
        CHECK(std::string(error.what()).find("a.b") != std::string::npos);
    }
}

TEST_CASE("error bodies are ASCII: plain replies escape what the client sent") {
    const auto reply = plain_http_reply(400, "bad value \xc3\xa9\xff\n\"q\"");
    CHECK(ascii_only(reply.body));
    CHECK(reply.body.find("\\u00e9") != std::string::npos);
    CHECK(reply.body.find("\"q\"") != std::string::npos);  // quotes stay readable
    raising_handler handler;
    rpc_call_context context;
    context.request_id = "r1";
    const auto bad_decimal = handle_jsonrpc(
        "{\"id\": 1, \"method\": \"ok\", \"params\": [{\"__class__\": \"Decimal\", \"decimal\": \"1\xc3\xa9\"}]}",
        "application/json", context, handler);
    CHECK(bad_decimal.status == 400);
    CHECK(ascii_only(bad_decimal.body));
    REQUIRE(bad_decimal.content_type == "application/json");
    CHECK(json::parse(bad_decimal.body)["error"].get<std::string>().find("Decimal") != std::string::npos);
}

TEST_CASE("/<db>/bus is recognised (the bus: server/bus_route.hpp), other paths are not") {
    const auto bus = match_route("/atrium/bus");
    REQUIRE(bus);
    CHECK(bus->bus);
    CHECK(bus->database == "atrium");
    CHECK_FALSE(match_route("/atrium/")->bus);
    CHECK_FALSE(match_route("/bus"));
    CHECK_FALSE(match_route("/a/b/bus"));
}

}  // TEST_SUITE
