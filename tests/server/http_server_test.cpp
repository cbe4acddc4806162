// The real atriumd over HTTP: keep-alive, pipelining, HTTP/1.0, CORS, limits,
// gzip, TLS probe, the connection cap, worker pool, draining shutdown.

#include "server/gzip.hpp"
#include "tests/support/atriumd_process.hpp"
#include "tests/support/http_test_client.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include <csignal>
#include <chrono>
#include <thread>

using atrium::test::atriumd_process;
using atrium::test::http_call;
using atrium::test::http_test_client;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string version_call = R"({"id": 1, "method": "common.server.version", "params": []})";
const std::string basic_auth = "Authorization: Basic YWRtaW46YWRtaW4=\r\n";  // admin:admin

std::string call_body(const std::string& method, const std::string& params = "[]", int id = 1) {
    return R"({"id": )" + std::to_string(id) + R"(, "method": ")" + method + R"(", "params": )" + params + "}";
}

}  // namespace

TEST_SUITE("http") {

TEST_CASE("atriumd serves common.server.version in both dialects") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST);
    auto response = http_call(server.port(), http_test_client::post("/", version_call));
    CHECK(response.status == 200);
    CHECK(response.header("content-type") == "application/json");
    // The Tryton series served (web.tryton_series); Atrium's own version is in the Server header.
    CHECK(json::parse(response.body) == json{{"id", 1}, {"result", "6.0"}});
    CHECK(response.header("server") == std::string("atrium/") + ATRIUM_VERSION);
    response = http_call(server.port(),
                         http_test_client::post("/", R"({"jsonrpc":"2.0","id":"x","method":"common.server.version"})"));
    CHECK(json::parse(response.body) == json{{"jsonrpc", "2.0"}, {"id", "x"}, {"result", "6.0"}});
    // Database routes reach the handler with the name; bad names are 404.
    response = http_call(server.port(), http_test_client::post("/db1/rpc/", call_body("test.info")));
    CHECK(json::parse(response.body)["result"]["database"] == "db1");
    CHECK(http_call(server.port(), http_test_client::post("/a%2Fb/", version_call)).status == 404);
    CHECK(http_call(server.port(), http_test_client::post("/nope", version_call)).status == 404);
    CHECK(http_call(server.port(), "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status == 405);
    // GET answers the web client where web.root is (Debian's sao), else 405.
    CHECK(http_call(server.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status ==
          (std::filesystem::is_directory("/usr/share/tryton-sao/www") ? 200 : 405));
    CHECK(server.wait_for_log("rpc r1 common.server.version db=- user=-"));
    // Default limits: 3 MB is too much without verified credentials; on `/`
    // (no database) none can be verified, so an Authorization header opens nothing.
    const std::string body = call_body("test.echo", "[\"" + std::string(3'000'000, 'y') + "\"]");
    CHECK(http_call(server.port(), http_test_client::post("/", body)).status == 413);
    CHECK(http_call(server.port(), http_test_client::post("/", body, basic_auth)).status == 413);
    // A database route whose database does not exist: 404 before the body.
    CHECK(http_call(server.port(), http_test_client::post("/nodb/", body, basic_auth)).status == 404);
}

TEST_CASE("keep-alive, pipelining (two requests in one write), HTTP/1.0") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST);
    http_test_client client(server.port());
    client.send(http_test_client::post("/", call_body("test.echo", "[1]", 1)));
    auto first = client.read_response();
    REQUIRE(first);
    CHECK(json::parse(first->body)["result"] == 1);
    // Same connection, then two pipelined requests: answered in order.
    client.send(http_test_client::post("/", call_body("test.sleep", "[0.2]", 2)) +
                http_test_client::post("/", call_body("test.echo", "[3]", 3)));
    auto second = client.read_response();
    auto third = client.read_response();
    REQUIRE(second);
    REQUIRE(third);
    CHECK(json::parse(second->body)["id"] == 2);
    CHECK(json::parse(third->body)["id"] == 3);

    http_test_client old(server.port());
    old.send(http_test_client::post("/", version_call, "", "HTTP/1.0"));
    auto response = old.read_response();
    REQUIRE(response);
    CHECK(response->version == "HTTP/1.0");
    CHECK(response->status == 200);
    CHECK(old.closed_by_server(5s));
}

TEST_CASE("OPTIONS is 204; CORS headers for allowed origins, 403 for others") {
    atriumd_process server(ATRIUM_ATRIUMD, {{"ATRIUM_WEB__CORS", "https://app.example.com"},
                                            {"ATRIUM_WEB__CACHE_TIMEOUT", "600"}});
    auto response = http_call(server.port(),
                              "OPTIONS /db1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example.com\r\n"
                              "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n");
    CHECK(response.status == 204);
    CHECK(response.body.empty());
    CHECK(response.header("access-control-allow-origin") == "https://app.example.com");
    CHECK(response.header("access-control-allow-methods") == "POST");
    CHECK(response.header("access-control-allow-headers") == "content-type");
    CHECK(response.header("access-control-max-age") == "600");
    CHECK(response.header("vary").find("Origin") != std::string::npos);
    response = http_call(server.port(), http_test_client::post("/", version_call, "Origin: https://evil.example.com\r\n"));
    CHECK(response.status == 403);
    response = http_call(server.port(), http_test_client::post("/", version_call, "Origin: null\r\n"));
    CHECK(response.status == 403);
    // Same host as Host: allowed without listing.
    response = http_call(server.port(), http_test_client::post("/", version_call, "Origin: http://127.0.0.1\r\n"));
    CHECK(response.status == 200);
}

TEST_CASE("body limits: 411 without Content-Length, 413 beyond the limit") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_REQUEST__MAX_SIZE", "1000"},
                                            {"ATRIUM_REQUEST__MAX_SIZE_AUTHENTICATED", "100000"}});
    auto response = http_call(server.port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(response.status == 411);
    const std::string big = call_body("test.echo", "[\"" + std::string(5000, 'x') + "\"]");
    CHECK(http_call(server.port(), http_test_client::post("/", big)).status == 413);
    // A body far beyond the limit: the 413 still arrives (no reset while the client sends).
    const std::string very_big = call_body("test.echo", "[\"" + std::string(3'000'000, 'x') + "\"]");
    CHECK(http_call(server.port(), http_test_client::post("/", very_big)).status == 413);
    // Only verified credentials get the larger limit (tests/server/http_server_inprocess_test.cpp,
    // tests/e2e/security_http_e2e.py): unverifiable ones on `/` do not.
    CHECK(http_call(server.port(), http_test_client::post("/", big, basic_auth)).status == 413);
    CHECK(http_call(server.port(), http_test_client::post("/", version_call, basic_auth)).status == 200);
}

TEST_CASE("gzip: request bodies only when verified, bombs refused, large responses compressed") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_REQUEST__MAX_SIZE_AUTHENTICATED", "1000000"}});
    const std::string compressed = atrium::server::gzip_deflate(call_body("test.echo", "[\"zipped\"]"));
    auto response = http_call(server.port(), http_test_client::post("/", compressed, "Content-Encoding: gzip\r\n"));
    CHECK(response.status == 415);
    // On `/` no credentials can be verified (served gzip bodies with verified
    // ones: the in-process test and tests/e2e/security_http_e2e.py).
    response = http_call(server.port(), http_test_client::post("/", compressed, "Content-Encoding: gzip\r\n" + basic_auth));
    CHECK(response.status == 415);
    const std::string bomb = atrium::server::gzip_deflate(std::string(20'000'000, ' '));
    REQUIRE(bomb.size() < 1'000'000);
    response = http_call(server.port(), http_test_client::post("/", bomb, "Content-Encoding: gzip\r\n" + basic_auth));
    CHECK(response.status == 415);

    response = http_call(server.port(), http_test_client::post("/", call_body("test.big", "[5000]"), "Accept-Encoding: gzip\r\n"));
    CHECK(response.header("content-encoding") == "gzip");
    std::string inflated;
    REQUIRE(atrium::server::gzip_inflate(response.body, 100000, inflated) == atrium::server::inflate_status::ok);
    CHECK(json::parse(inflated)["result"].get<std::string>().size() == 5000);
    response = http_call(server.port(), http_test_client::post("/", call_body("test.big", "[10]"), "Accept-Encoding: gzip\r\n"));
    CHECK(response.header("content-encoding").empty());
    response = http_call(server.port(), http_test_client::post("/", call_body("test.big", "[5000]")));
    CHECK(response.header("content-encoding").empty());
}

TEST_CASE("slow headers are cut off; idle keep-alive connections are closed") {
    atriumd_process server(ATRIUM_ATRIUMD, {{"ATRIUM_WEB__HEADER_TIMEOUT", "1"}, {"ATRIUM_WEB__KEEPALIVE_TIMEOUT", "1"}});
    http_test_client slow(server.port());
    slow.send("POST / HTTP/1.1\r\nHost: x\r\n");  // never finishes its headers
    CHECK(slow.closed_by_server(4s));
    http_test_client idle(server.port());
    idle.send(http_test_client::post("/", version_call));
    REQUIRE(idle.read_response());
    CHECK(idle.closed_by_server(4s));
}

TEST_CASE("a connection idle past the trim delay still serves (pipelined too) and still times out") {
    // Idle over a second, a connection drops its buffer and stack pages and
    // waits on a 1-byte read: the byte must reach the parser, the timeout stay.
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_WEB__HEADER_TIMEOUT", "3"}, {"ATRIUM_WEB__KEEPALIVE_TIMEOUT", "3"}});
    http_test_client client(server.port());
    // Idle for longer than the 1 s trim delay: the passing time is what is tested.
    std::this_thread::sleep_for(1500ms);  // before its first request
    client.send(http_test_client::post("/", call_body("test.echo", "[1]", 1)));
    auto first = client.read_response();
    REQUIRE(first);
    CHECK(json::parse(first->body)["id"] == 1);
    std::this_thread::sleep_for(1500ms);  // idle past the trim delay again, between requests
    client.send(http_test_client::post("/", call_body("test.echo", "[2]", 2)) +
                http_test_client::post("/", call_body("test.echo", "[3]", 3)));
    auto second = client.read_response();
    auto third = client.read_response();
    REQUIRE(second);
    REQUIRE(third);
    CHECK(json::parse(second->body)["result"] == 2);
    CHECK(json::parse(third->body)["result"] == 3);
    const auto idle_start = std::chrono::steady_clock::now();
    CHECK(client.closed_by_server(6s));
    const auto idle_for = std::chrono::steady_clock::now() - idle_start;
    CHECK(idle_for > 2500ms);
    CHECK(idle_for < 4500ms);
}

TEST_CASE("a TLS ClientHello on the plain port closes the connection at once") {
    atriumd_process server(ATRIUM_ATRIUMD);
    http_test_client client(server.port());
    client.send(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11));
    const auto start = std::chrono::steady_clock::now();
    CHECK(client.closed_by_server(3s));
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("HTTP-level failures are plain HTTP; oversized headers 431") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST);
    auto response = http_call(server.port(), http_test_client::post("/", call_body("test.raise", "[\"http_401\"]")));
    CHECK(response.status == 401);
    CHECK(response.header("www-authenticate") == "Basic realm=\"Tryton\"");
    response = http_call(server.port(), http_test_client::post("/", call_body("test.raise", "[\"http_401\"]"),
                                                               "X-Requested-With: XMLHttpRequest\r\n"));
    CHECK(response.status == 401);
    CHECK(response.header("www-authenticate").empty());
    response = http_call(server.port(), http_test_client::post("/", version_call, "X-Big: " + std::string(70000, 'a') + "\r\n"));
    CHECK(response.status == 431);
    response = http_call(server.port(), http_test_client::post("/", "{", ""));
    CHECK(response.status == 400);
    CHECK(response.body.find("Unable to read JSON request") != std::string::npos);
}

TEST_CASE("beyond web.max_connections: the longest idle closed to make room, 503 with Retry-After when all are busy") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_WEB__MAX_CONNECTIONS", "2"}});
    {
        http_test_client a(server.port());
        a.send(http_test_client::post("/", version_call));
        REQUIRE(a.read_response());
        std::this_thread::sleep_for(50ms);  // a has waited longer than b: the order the cap goes by
        http_test_client b(server.port());
        b.send(http_test_client::post("/", version_call));
        REQUIRE(b.read_response());
        http_test_client c(server.port());
        c.send(http_test_client::post("/", version_call));
        auto response = c.read_response();
        REQUIRE(response);
        CHECK(response->status == 200);
        CHECK(a.closed_by_server(2s));
        // The closed ones gone: the server ends b and c once they stop sending.
        b.finish_sending();
        c.finish_sending();
        CHECK(b.closed_by_server(2s));
        CHECK(c.closed_by_server(2s));
    }
    http_test_client a(server.port());
    http_test_client b(server.port());
    a.send(http_test_client::post("/", call_body("test.sleep", "[1.0]")));
    b.send(http_test_client::post("/", call_body("test.sleep", "[1.0]")));
    REQUIRE(server.wait_for_log("test.sleep begins", 10s, 2));  // both calls in flight
    http_test_client c(server.port());
    c.send(http_test_client::post("/", version_call));
    auto response = c.read_response();
    REQUIRE(response);
    CHECK(response->status == 503);
    CHECK(response->header("retry-after") == "1");
    REQUIRE(a.read_response());
    REQUIRE(b.read_response());
}

TEST_CASE("run_blocking keeps the io thread free") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_WEB__THREADS", "1"}});
    http_test_client slow(server.port());
    slow.send(http_test_client::post("/", call_body("test.blocking_sleep", "[1.5]")));
    REQUIRE(server.wait_for_log("test.blocking_sleep begins"));
    const auto start = std::chrono::steady_clock::now();
    auto quick = http_call(server.port(), http_test_client::post("/", version_call));
    CHECK(quick.status == 200);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    auto response = slow.read_response();
    REQUIRE(response);
    CHECK(json::parse(response->body)["result"] == "slept");
}

TEST_CASE("SIGTERM: stop accepting, answer the call in flight, exit 0") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST);
    http_test_client idle(server.port());
    idle.send(http_test_client::post("/", version_call));
    REQUIRE(idle.read_response());
    http_test_client busy(server.port());
    busy.send(http_test_client::post("/", call_body("test.sleep", "[1.0]")));
    REQUIRE(server.wait_for_log("test.sleep begins"));  // in flight
    server.signal(SIGTERM);
    auto response = busy.read_response();
    REQUIRE(response);
    CHECK(json::parse(response->body)["result"] == "slept");
    CHECK(response->header("connection") == "close");
    CHECK(idle.closed_by_server(2s));
    CHECK(server.wait(10s) == 0);
    CHECK(server.log().find("draining") != std::string::npos);
}

TEST_CASE("SIGTERM: a call longer than web.drain_timeout is cut off, still exit 0") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST, {{"ATRIUM_WEB__DRAIN_TIMEOUT", "1"}});
    http_test_client busy(server.port());
    busy.send(http_test_client::post("/", call_body("test.sleep", "[30]")));
    REQUIRE(server.wait_for_log("test.sleep begins"));  // in flight
    server.signal(SIGTERM);
    CHECK(server.wait(10s) == 0);
}


TEST_CASE("Expect: 100-continue gets an interim response before the body") {
    atriumd_process server(ATRIUM_ATRIUMD_TEST);
    http_test_client client(server.port());
    const std::string body = call_body("test.echo", "[2]");
    client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n");
    auto interim = client.read_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    client.send(body);
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(json::parse(response->body)["result"] == 2);
}

TEST_CASE("garbage on the wire gets 400 or a close, and the server keeps serving") {
    atriumd_process server(ATRIUM_ATRIUMD);
    CHECK(http_call(server.port(), "NOT HTTP AT ALL\r\n\r\n").status == 400);
    {
        http_test_client client(server.port());
        client.send(std::string("\x00\x01\x02 garbage\r\n\r\n", 16));
        auto response = client.read_response();
        if (response) CHECK(response->status == 400);
    }
    {
        // Both Content-Length and chunked: refused, never smuggled through.
        http_test_client client(server.port());
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        auto response = client.read_response();
        if (response) CHECK(response->status >= 400);
    }
    CHECK(http_call(server.port(), http_test_client::post("/", version_call)).status == 200);
}

TEST_CASE("the production atriumd has no test.* methods (atriumd_test adds them)") {
    atriumd_process server(ATRIUM_ATRIUMD);
    const auto response = http_call(server.port(), http_test_client::post("/", call_body("test.echo", "[1]")));
    const auto body = json::parse(response.body);
    CHECK(body.contains("error"));
    CHECK_FALSE(body.contains("result"));
}

TEST_CASE("atriumd -c etc/atrium.conf serves (the environment still overrides the listen address)") {
    atriumd_process server(ATRIUM_ATRIUMD, {}, {"-c", ATRIUM_SOURCE_DIR "/etc/atrium.conf"});
    const auto response = http_call(server.port(), http_test_client::post("/", version_call));
    CHECK(response.status == 200);
    CHECK(json::parse(response.body)["result"] == "6.0");  // etc/atrium.conf's web.tryton_series
}

}  // TEST_SUITE
