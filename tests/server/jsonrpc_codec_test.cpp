// The JSON-RPC codec without HTTP: dialects, batches, error shapes, special values.

#include "server/jsonrpc_codec.hpp"
#include "server/jsonrpc_values.hpp"
#include "server/rpc_handler.hpp"
#include "tests/support/test_handler.hpp"

#include <doctest/doctest.h>

#include <random>
#include <vector>

using namespace atrium::server;
using json = nlohmann::json;

namespace {

struct codec_fixture {
    builtin_handler builtin{"9.8.7"};
    atrium::test::test_handler handler{builtin};
    std::vector<rpc_call_record> calls;
    codec_options options;
    rpc_call_context context;

    codec_fixture() {
        options.log_call = [this](const rpc_call_record& record) { calls.push_back(record); };
        context.request_id = "r1";
    }
    rpc_http_reply call(const std::string& body, const std::string& content_type = "application/json") {
        return handle_jsonrpc(body, content_type, context, handler, options);
    }
    json call_json(const std::string& body) {
        const auto reply = call(body);
        REQUIRE(reply.content_type == "application/json");
        return json::parse(reply.body);
    }
};

bool ascii_only(const std::string& text) {
    for (const unsigned char c : text) {
        if (c >= 0x80) return false;
    }
    return true;
}

}  // namespace

TEST_SUITE("jsonrpc") {

TEST_CASE("Tryton envelope: result and id echoed") {
    codec_fixture f;
    const auto reply = f.call(R"({"id": 7, "method": "common.server.version", "params": []})");
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body) == json{{"id", 7}, {"result", "9.8.7"}});
    REQUIRE(f.calls.size() == 1);
    CHECK(f.calls[0].outcome == "ok");
    CHECK(f.calls[0].method == "common.server.version");
}

TEST_CASE("Tryton bare mode: the raw result is the body, errors are HTTP statuses") {
    codec_fixture f;
    auto reply = f.call(R"({"method": "test.echo", "params": [[1, 2]]})");
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body) == json::array({1, 2}));
    CHECK(f.call(R"({"method": "test.raise", "params": ["user_warning"]})").status == 409);
    CHECK(f.call(R"({"method": "test.raise", "params": ["login_exception"]})").status == 403);
    CHECK(f.call(R"({"method": "test.raise", "params": ["concurrency_exception"]})").status == 423);
    CHECK(f.call(R"({"method": "test.raise", "params": ["rate_limit"]})").status == 429);
    CHECK(f.call(R"({"method": "test.raise", "params": ["user_error"]})").status == 400);
    CHECK(f.call(R"({"method": "test.raise", "params": ["internal"]})").status == 500);
    reply = f.call(R"({"method": "test.raise", "params": ["user_error"]})");
    CHECK(json::parse(reply.body)[0] == "UserError");
}

TEST_CASE("Tryton envelope: error arrays per exception type") {
    codec_fixture f;
    auto error = [&](const std::string& kind) {
        return f.call_json(R"({"id": 1, "method": "test.raise", "params": [")" + kind + R"("]})")["error"];
    };
    CHECK(error("user_error") == json::parse(R"(["UserError", ["Bad value", "The value is wrong", ["x", "=", 1]]])"));
    CHECK(error("access_error")[0] == "UserError");
    CHECK(error("user_warning") == json::parse(R"(["UserWarning", ["warn.key", "Careful", "Really?"]])"));
    CHECK(error("login_exception") == json::parse(R"(["LoginException", ["password", "Password", "password"]])"));
    CHECK(error("concurrency_exception") == json::parse(R"(["ConcurrencyException", "Record modified"])"));
    CHECK(error("value_error") == json::parse(R"(["Duplicate ids", ""])"));
    // Rate limiting is an HTTP-level failure.
    CHECK(f.call(R"({"id": 1, "method": "test.raise", "params": ["rate_limit"]})").status == 429);
}

TEST_CASE("internal errors reveal nothing outside dev mode") {
    codec_fixture f;
    auto reply = f.call(R"({"id": 1, "method": "test.raise", "params": ["internal"]})");
    CHECK(reply.status == 200);
    CHECK(reply.body.find("SELECT") == std::string::npos);
    CHECK(reply.body.find("/etc") == std::string::npos);
    CHECK(json::parse(reply.body)["error"] == json::array({"Internal error (request r1)", ""}));
    f.options.dev = true;
    reply = f.call(R"({"id": 1, "method": "test.raise", "params": ["internal"]})");
    CHECK(reply.body.find("SELECT secret") != std::string::npos);
    // 2.0: -32603.
    f.options.dev = false;
    const auto response = f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.raise", "params": ["internal"]})");
    CHECK(response["error"]["code"] == -32603);
    CHECK(response.dump().find("SELECT") == std::string::npos);
}

TEST_CASE("unknown method: generic error on /, 403 with a database, -32601 in 2.0") {
    codec_fixture f;
    CHECK(f.call_json(R"({"id": 1, "method": "no.such", "params": []})")["error"] == json::array({"'no.such'", ""}));
    f.context.database = "db1";
    CHECK(f.call(R"({"id": 1, "method": "no.such", "params": []})").status == 403);
    // common.server.version lives on "/" only.
    CHECK(f.call(R"({"id": 1, "method": "common.server.version", "params": []})").status == 403);
    const auto response = f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "no.such"})");
    CHECK(response["error"]["code"] == -32601);
    CHECK(f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"})")["error"]["code"] == -32601);
}

TEST_CASE("transport-level request errors: content type, unreadable JSON, bad params") {
    codec_fixture f;
    auto reply = f.call(R"({"id": 1, "method": "x", "params": []})", "text/plain");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("Not a JSON request") != std::string::npos);
    reply = f.call("{\"id\": 1, \"method\"", "application/json; charset=utf-8");
    CHECK(reply.status == 400);
    CHECK(reply.body.find("Unable to read JSON request") != std::string::npos);
    CHECK(f.call(R"({"id": 1, "method": "test.echo", "params": {"a": 1}})").status == 400);
    CHECK(f.call(R"({"id": 1, "method": 5, "params": []})").status == 400);
    CHECK(f.call(R"({"id": 1})").status == 400);
    CHECK(f.call("42").status == 400);
    CHECK(f.call("\"\xff\xfe\"").status == 400);  // invalid UTF-8
    // Nesting too deep is unreadable, not a stack overflow.
    CHECK(f.call(std::string(100000, '{')).status == 400);
    CHECK(f.calls.empty());
}

TEST_CASE("2.0: result, positional and named params, id types") {
    codec_fixture f;
    auto response = f.call_json(R"({"jsonrpc": "2.0", "id": "abc", "method": "test.echo", "params": [3]})");
    CHECK(response == json{{"jsonrpc", "2.0"}, {"id", "abc"}, {"result", 3}});
    response = f.call_json(R"({"jsonrpc": "2.0", "id": null, "method": "test.echo_kwargs", "params": {"a": 1, "context": {}}})");
    CHECK(response["result"] == json{{"a", 1}, {"context", json::object()}});
    CHECK(response["id"].is_null());
    response = f.call_json(R"({"jsonrpc": "2.0", "id": 1.5, "method": "test.info"})");
    CHECK(response["result"]["dialect"] == "jsonrpc2");
    CHECK(response["id"] == 1.5);
    response = f.call_json(R"({"jsonrpc": "2.0", "id": [1], "method": "test.info"})");
    CHECK(response["error"]["code"] == -32600);
    CHECK(response["id"].is_null());
    response = f.call_json(R"({"jsonrpc": "1.0", "id": 1, "method": "test.info"})");
    CHECK(response["error"]["code"] == -32600);
    CHECK(response["id"] == 1);
    response = f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.info", "params": 5})");
    CHECK(response["error"]["code"] == -32600);
}

TEST_CASE("2.0: error codes of the Tryton errors carry the Tryton array as data") {
    codec_fixture f;
    auto code = [&](const std::string& kind) {
        const auto response =
            f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.raise", "params": [")" + kind + R"("]})");
        CHECK(response.contains("error"));
        CHECK_FALSE(response.contains("result"));
        return response["error"]["code"].get<int>();
    };
    CHECK(code("user_error") == -32001);
    CHECK(code("user_warning") == -32002);
    CHECK(code("login_exception") == -32003);
    CHECK(code("concurrency_exception") == -32004);
    CHECK(code("access_error") == -32005);
    CHECK(code("value_error") == -32602);
    CHECK(code("type_error") == -32602);
    const auto response = f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.raise", "params": ["access_error"]})");
    CHECK(response["error"]["data"][0] == "UserError");
    // HTTP-level failures stay HTTP in a single call.
    auto reply = f.call(R"({"jsonrpc": "2.0", "id": 1, "method": "test.raise", "params": ["http_401"]})");
    CHECK(reply.status == 401);
    CHECK(reply.content_type.find("text/plain") == 0);
    CHECK(f.call(R"({"jsonrpc": "2.0", "id": 1, "method": "test.raise", "params": ["rate_limit"]})").status == 429);
}

TEST_CASE("401 carries WWW-Authenticate unless XMLHttpRequest") {
    codec_fixture f;
    auto reply = f.call(R"({"id": 1, "method": "test.raise", "params": ["http_401"]})");
    REQUIRE(reply.status == 401);
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{
                               {"WWW-Authenticate", "Basic realm=\"Tryton\""}, {"Retry-After", "7"}});
    f.context.http.x_requested_with = "XMLHttpRequest";
    reply = f.call(R"({"id": 1, "method": "test.raise", "params": ["http_401"]})");
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{{"Retry-After", "7"}});
    CHECK(f.call(R"({"id": 1, "method": "test.raise", "params": ["http_503"]})").status == 503);
}

TEST_CASE("2.0: parse error and notifications") {
    codec_fixture f;
    auto reply = f.call(R"({"jsonrpc": "2.0", "id": 1, "method": )");
    CHECK(reply.status == 200);
    auto response = json::parse(reply.body);
    CHECK(response["error"]["code"] == -32700);
    CHECK(response["id"].is_null());
    reply = f.call("[1, 2");
    CHECK(json::parse(reply.body)["error"]["code"] == -32700);
    reply = f.call(R"({"jsonrpc": "2.0", "method": "test.echo", "params": [1]})");
    CHECK(reply.status == 204);
    CHECK(reply.body.empty());
    CHECK(f.calls.size() == 1);  // the notification ran
    // A failing notification is silent too.
    CHECK(f.call(R"({"jsonrpc": "2.0", "method": "test.raise", "params": ["user_error"]})").status == 204);
}

TEST_CASE("2.0 batches: mixed members, empty, non-objects, all notifications") {
    codec_fixture f;
    auto response = f.call_json(R"([
        {"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": ["a"]},
        {"jsonrpc": "2.0", "method": "test.echo", "params": ["notified"]},
        7,
        {"jsonrpc": "2.0", "id": 2, "method": "test.raise", "params": ["user_error"]},
        {"jsonrpc": "2.0", "id": 3, "method": "test.raise", "params": ["http_403"]},
        {"jsonrpc": "2.0", "id": 4, "method": "no.such"}
    ])");
    REQUIRE(response.is_array());
    REQUIRE(response.size() == 5);
    CHECK(response[0] == json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", "a"}});
    CHECK(response[1]["error"]["code"] == -32600);
    CHECK(response[1]["id"].is_null());
    CHECK(response[2]["error"]["code"] == -32001);
    CHECK(response[3]["error"]["code"] == -32000);
    CHECK(response[3]["error"]["data"]["status"] == 403);
    CHECK(response[4]["error"]["code"] == -32601);
    CHECK(f.calls.size() == 5);  // every object member was called on its own
    CHECK(f.calls[0].request_id == "r1.1");

    response = f.call_json("[]");
    CHECK(response.is_object());
    CHECK(response["error"]["code"] == -32600);

    response = f.call_json("[1, \"x\"]");
    REQUIRE(response.size() == 2);
    CHECK(response[0]["error"]["code"] == -32600);

    const auto reply = f.call(R"([{"jsonrpc": "2.0", "method": "test.echo", "params": [1]},
                                  {"jsonrpc": "2.0", "method": "test.echo", "params": [2]}])");
    CHECK(reply.status == 204);
    CHECK(reply.body.empty());
}

TEST_CASE("special values: validated on input, kept as their objects, encoded for the wire") {
    codec_fixture f;
    const auto echo = [&](const std::string& value) {
        return f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": [)" + value + "]}");
    };
    const std::string datetime =
        R"({"__class__": "datetime", "year": 2024, "month": 2, "day": 29, "hour": 23, "minute": 59, "second": 58, "microsecond": 999999})";
    CHECK(echo(datetime)["result"] == json::parse(datetime));
    CHECK(echo(R"({"__class__": "date", "year": 2023, "month": 2, "day": 29})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "datetime", "year": 2024, "month": 2, "day": 1})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "time", "hour": 1, "minute": 2, "second": 3, "microsecond": 4})")["result"]["hour"] == 1);
    CHECK(echo(R"({"__class__": "time", "hour": 24, "minute": 0, "second": 0, "microsecond": 0})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "timedelta", "seconds": 1.5})")["result"]["seconds"] == 1.5);
    CHECK(echo(R"({"__class__": "Decimal", "decimal": "-12.50"})")["result"]["decimal"] == "-12.50");
    CHECK(echo(R"({"__class__": "Decimal", "decimal": "NaN"})")["result"]["decimal"] == "NaN");
    CHECK(echo(R"({"__class__": "Decimal", "decimal": "1e-7"})")["result"]["decimal"] == "1e-7");
    CHECK(echo(R"({"__class__": "Decimal", "decimal": "1.2.3"})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "Decimal", "decimal": 1.5})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "bytes", "base64": "!!"})")["error"]["code"] == -32602);
    CHECK(echo(R"({"__class__": "unknown", "x": 1})")["result"] == json{{"__class__", "unknown"}, {"x", 1}});
    // Whitespace in base64 is ignored; the answer is MIME lines of 76 + newline.
    std::string long_base64;
    for (int i = 0; i < 30; ++i) long_base64 += "QUJD";  // "ABC" x 30 = 120 characters
    const auto bytes = echo(R"({"__class__": "bytes", "base64": "QUJD QUJD\nQUJD)" + long_base64.substr(12) + "\"}")["result"];
    const std::string wrapped = bytes["base64"];
    CHECK(wrapped == long_base64.substr(0, 76) + "\n" + long_base64.substr(76) + "\n");
    // Special values inside Tryton params are validated too.
    CHECK(f.call(R"({"id": 1, "method": "test.echo", "params": [{"__class__": "date", "year": 1}]})").status == 400);
}

TEST_CASE("numbers: beyond 64 bits carried as Decimal, never NaN/Infinity on output") {
    codec_fixture f;
    auto response = f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": [[18446744073709551615, 18446744073709551616, -9223372036854775809]]})");
    CHECK(response["result"][0] == 18446744073709551615ull);
    CHECK(response["result"][1] == json{{"__class__", "Decimal"}, {"decimal", "18446744073709551616"}});
    CHECK(response["result"][2] == json{{"__class__", "Decimal"}, {"decimal", "-9223372036854775809"}});
    // A float that overflows double is unreadable.
    CHECK(f.call_json(R"({"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": [1e400]})")["error"]["code"] == -32700);
}

TEST_CASE("responses are ASCII-only JSON") {
    codec_fixture f;
    const auto reply = f.call("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"test.echo\", \"params\": [\"h\xc3\xa9llo \xf0\x9f\x98\x80\"]}");
    CHECK(ascii_only(reply.body));
    CHECK(reply.body.find("h\\u00e9llo \\ud83d\\ude00") != std::string::npos);
    CHECK(json::parse(reply.body)["result"] == "h\xc3\xa9llo \xf0\x9f\x98\x80");
}

TEST_CASE("X-Tryton-Cache from the result") {
    codec_fixture f;
    auto reply = f.call(R"({"id": 1, "method": "test.cached", "params": [60]})");
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{{"X-Tryton-Cache", "60"}});
    reply = f.call(R"({"jsonrpc": "2.0", "id": 1, "method": "test.cached", "params": [30]})");
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{{"X-Tryton-Cache", "30"}});
}

TEST_CASE("the call log line") {
    rpc_call_record record;
    record.request_id = "r9";
    record.method = "model.res.user.read";
    record.database = "db1";
    record.notes.user = "admin";
    record.notes.retries = 2;
    record.duration_ms = 1.25;
    record.outcome = "ok";
    CHECK(format_call_record(record) == "rpc r9 model.res.user.read db=db1 user=admin 1.2ms ok retries=2");
    record.method = "evil\nINFO: forged";
    CHECK(format_call_record(record).find('\n') == std::string::npos);
}

TEST_CASE("malformed bodies never crash the codec: mutated requests give a reply in the protocol's shape") {
    codec_fixture f;
    const std::vector<std::string> seeds{
        R"({"id": 1, "method": "test.echo", "params": [{"__class__": "Decimal", "decimal": "1.5"}]})",
        R"({"jsonrpc": "2.0", "id": "a", "method": "test.echo_kwargs", "params": {"x": [1, 2, {"y": null}]}})",
        R"([{"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": [{"__class__": "bytes", "base64": "aGk="}]}, 3])",
        R"({"method": "test.echo", "params": [{"__class__": "datetime", "year": 2020, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "microsecond": 0}]})",
    };
    const std::string alphabet = std::string("{}[]\",:0123456789.eE-+ \\\x80\xff") + '\0' + "nulltruefalse__class__";
    std::mt19937 random(12345);
    for (int i = 0; i < 3000; ++i) {
        std::string body = seeds[random() % seeds.size()];
        const int edits = 1 + static_cast<int>(random() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = random() % (body.size() + 1);
            switch (random() % 3) {
            case 0:
                body.insert(at, 1, alphabet[random() % alphabet.size()]);
                break;
            case 1:
                if (at < body.size()) body.erase(at, 1);
                break;
            default:
                if (at < body.size()) body[at] = alphabet[random() % alphabet.size()];
                break;
            }
        }
        rpc_http_reply reply;
        REQUIRE_NOTHROW(reply = f.call(body));
        CHECK((reply.status == 200 || reply.status == 204 || reply.status == 400 || reply.status == 403 ||
               reply.status == 500));
        CHECK(ascii_only(reply.body));
        if (reply.content_type == "application/json") CHECK(json::accept(reply.body));
    }
}

TEST_CASE("dump_ascii_object_to writes what nlohmann's ASCII dump writes for that object") {
    const std::vector<json> values{nullptr, 7, -3, "x", "caf\u00e9 \xff", json::array({1.5, "\n"}),
                                   json{{"b", {1, 2}}, {"a", nullptr}}};
    for (const auto& id : values) {
        for (const auto& result : values) {
            std::string out = "prefix";
            dump_ascii_object_to(out, {{"id", &id}, {"result", &result}});
            // Against nlohmann's own dump (dump_ascii shares the writer under test).
            CHECK(out == "prefix" + json{{"id", id}, {"result", result}}.dump(-1, ' ', true, json::error_handler_t::replace));
        }
    }
}

}  // TEST_SUITE
