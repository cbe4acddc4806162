// http_server embedded in a process with its own handler, as the dispatcher
// will use it: the handler sees the route and headers, and can replace the
// "authenticated" hook that picks the body limit.

#include "server/gzip.hpp"
#include "server/http_server.hpp"
#include "tests/support/http_test_client.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <mutex>
#include <vector>
#include <string>

using namespace atrium::server;
using atrium::test::http_call;
using atrium::test::http_test_client;
using json = nlohmann::json;

namespace {

/// Accepts "Authorization: Bearer ok" as authenticated; echoes what it saw.
class recording_handler : public rpc_handler {
public:
    rpc_result handle(const rpc_request& request) override {
        ++calls;
        if (request.method == "sleep") {
            ++sleeping;  // the test waits for it: the call is in flight
            atrium::fiber::current().sleep_for(std::chrono::milliseconds(1500));
        }
        request.notes.user = "tester";
        request.notes.retries = 1;
        return {json{{"database", request.database.value_or("")},
                     {"method", request.method},
                     {"params", request.params},
                     {"authorization", request.http.authorization},
                     {"origin", request.http.origin},
                     {"remote", request.http.remote_address}}};
    }
    bool authenticated_for_limits(const std::optional<std::string>&, const rpc_http_info& http) override {
        ++limit_checks;
        if (http.authorization == "Bearer wrong") throw http_error(401, "Unauthorized");
        return http.authorization == "Bearer ok";
    }
    std::atomic<int> calls{0};
    std::atomic<int> limit_checks{0};
    std::atomic<int> sleeping{0};
};

/// Waits (up to 10 s) until `condition` holds, re-checking every millisecond.
bool eventually(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

config small_limits() {
    config cfg;
    cfg.web.host = "127.0.0.1";
    cfg.web.port = 0;
    cfg.web.threads = 2;
    cfg.web.workers = 1;
    cfg.web.drain_timeout = 2;
    cfg.request.max_size = 1000;
    cfg.request.max_size_authenticated = 100000;
    return cfg;
}

}  // namespace

TEST_SUITE("http") {

TEST_CASE("embedded http_server: route, headers and the replaceable authenticated hook") {
    std::mutex mutex;
    std::vector<std::string> lines;
    atrium::scoped_log_sink sink([&](atrium::log_level, std::string_view line) {
        std::lock_guard lock(mutex);
        lines.emplace_back(line);
    });
    recording_handler handler;
    http_server server(small_limits(), handler);
    server.start();
    REQUIRE(server.port() != 0);
    const std::string big = R"({"id": 1, "method": "m", "params": [")" + std::string(5000, 'x') + "\"]}";
    // Basic would count by default; this handler only trusts its Bearer token.
    CHECK(http_call(server.port(), http_test_client::post("/db1/", big, "Authorization: Basic YTpi\r\n")).status == 413);
    auto response = http_call(server.port(), http_test_client::post("/db1/", big, "Authorization: Bearer ok\r\n"));
    REQUIRE(response.status == 200);
    const auto result = json::parse(response.body)["result"];
    CHECK(result["database"] == "db1");
    CHECK(result["method"] == "m");
    CHECK(result["authorization"] == "Bearer ok");
    CHECK(result["remote"] == "127.0.0.1");
    CHECK(handler.calls == 1);
    // Asked only when the body needs it: a small plain body costs no check.
    const int checks = handler.limit_checks;
    REQUIRE(http_call(server.port(), http_test_client::post("/db1/", R"({"id": 1, "method": "m", "params": []})",
                                                            "Authorization: Bearer ok\r\n"))
                .status == 200);
    CHECK(handler.limit_checks == checks);
    CHECK(server.shutdown());
    CHECK(server.shutdown());  // idempotent
    // One info line per call, with what the handler noted.
    std::lock_guard lock(mutex);
    REQUIRE(lines.size() == 2);  // the big call, then the small one
    CHECK(lines[0].rfind("rpc r2 m db=db1 user=tester ", 0) == 0);
    CHECK(lines[0].find(" ok retries=1") != std::string::npos);
}

TEST_CASE("embedded http_server: the large limit and gzip only for verified credentials; bombs stop at the cap") {
    recording_handler handler;
    http_server server(small_limits(), handler);
    server.start();
    const std::string big = R"({"id": 1, "method": "m", "params": [")" + std::string(5000, 'x') + "\"]}";
    // Credentials the handler refuses: its status, before the body is read.
    auto response = http_call(server.port(), http_test_client::post("/db1/", big, "Authorization: Bearer wrong\r\n"));
    CHECK(response.status == 401);
    CHECK(handler.calls == 0);
    // gzip: 415 without verified credentials, served with them.
    const std::string zipped = gzip_deflate(big);
    REQUIRE(zipped.size() < 1000);
    CHECK(http_call(server.port(), http_test_client::post("/db1/", zipped, "Content-Encoding: gzip\r\n")).status == 415);
    CHECK(http_call(server.port(), http_test_client::post("/db1/", zipped, "Content-Encoding: gzip\r\n"
                                                                           "Authorization: Bearer wrong\r\n"))
              .status == 401);
    response = http_call(server.port(), http_test_client::post("/db1/", zipped, "Content-Encoding: gzip\r\n"
                                                                                 "Authorization: Bearer ok\r\n"));
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body)["result"]["params"][0].get<std::string>().size() == 5000);
    CHECK(handler.calls == 1);
    // A bomb (20 MB of spaces in a few KB) stops at the 100 KB cap: 413.
    const std::string bomb = gzip_deflate(std::string(20'000'000, ' '));
    REQUIRE(bomb.size() < 100000);
    response = http_call(server.port(), http_test_client::post("/db1/", bomb, "Content-Encoding: gzip\r\n"
                                                                               "Authorization: Bearer ok\r\n"));
    CHECK(response.status == 413);
    CHECK(handler.calls == 1);
    CHECK(server.shutdown());
}

TEST_CASE("embedded http_server: per-network cap closes the longest waiting connection, 503 when all are busy") {
    using namespace std::chrono_literals;
    recording_handler handler;
    config cfg = small_limits();
    cfg.web.max_connections_per_network = 3;
    http_server server(cfg, handler);
    server.start();
    const std::string call = R"({"id": 1, "method": "m", "params": []})";
    {
        // Three idle connections (one idle after a request, two that never
        // spoke), then a fourth: the one waiting longest (the first) is closed.
        http_test_client first(server.port());
        first.send(http_test_client::post("/", call));
        REQUIRE(first.read_response());
        // Time passes between the connections: the cap goes by how long each has waited.
        std::this_thread::sleep_for(50ms);
        http_test_client second(server.port());
        std::this_thread::sleep_for(50ms);
        http_test_client third(server.port());
        std::this_thread::sleep_for(50ms);
        http_test_client fourth(server.port());
        fourth.send(http_test_client::post("/", call));
        auto response = fourth.read_response();
        REQUIRE(response);
        CHECK(response->status == 200);
        CHECK(first.closed_by_server(2s));
        // A connection in the middle of its headers waits too (slowloris): the
        // second, waiting since it connected, goes next.
        second.send("POST / HTTP/1.1\r\nHost: x\r\n");
        std::this_thread::sleep_for(50ms);  // waiting in its headers for a while
        http_test_client fifth(server.port());
        fifth.send(http_test_client::post("/", call));
        response = fifth.read_response();
        REQUIRE(response);
        CHECK(response->status == 200);
        CHECK(second.closed_by_server(2s));
        third.send(http_test_client::post("/", call));
        REQUIRE(third.read_response());
        // The closed ones gone: the server ends the others once they stop sending.
        for (http_test_client* client : {&third, &fourth, &fifth}) {
            client->finish_sending();
            CHECK(client->closed_by_server(2s));
        }
    }
    // Three connections busy with a call: nothing to close, the fourth gets 503.
    std::vector<std::unique_ptr<http_test_client>> busy;
    for (int i = 0; i < 3; ++i) {
        busy.push_back(std::make_unique<http_test_client>(server.port()));
        busy.back()->send(http_test_client::post("/", R"({"id": 1, "method": "sleep", "params": []})"));
    }
    REQUIRE(eventually([&] { return handler.sleeping == 3; }));  // all three in flight
    const auto response = http_call(server.port(), http_test_client::post("/", call));
    CHECK(response.status == 503);
    CHECK(response.header("retry-after") == "1");
    for (auto& client : busy) {
        const auto answer = client->read_response();
        REQUIRE(answer);
        CHECK(answer->status == 200);
    }
    CHECK(server.shutdown());
}

TEST_CASE("gzip_inflater: steps of bounded output, stopped at the cap") {
    const std::string text(1'000'000, 'a');
    const std::string zipped = gzip_deflate(text);
    std::string out;
    gzip_inflater inflater(zipped, text.size());
    int steps = 0;
    std::optional<inflate_status> status;
    while (!(status = inflater.step(out, 100'000))) {
        ++steps;
        CHECK(out.size() <= static_cast<std::size_t>(steps) * (100'000 + 65536));
    }
    CHECK(*status == inflate_status::ok);
    CHECK(out == text);
    CHECK(steps >= 5);  // 1 MB in steps of at most 100 KB + one 64 KiB zlib chunk
    std::string capped;
    gzip_inflater small(zipped, 300'000);
    while (!(status = small.step(capped, 100'000))) {
    }
    CHECK(*status == inflate_status::too_large);
    CHECK(capped.size() <= 300'000);
    CHECK(small.step(capped) == inflate_status::too_large);
    std::string broken;
    CHECK(gzip_inflate(zipped.substr(0, zipped.size() / 2), 2'000'000, broken) == inflate_status::invalid);
}

}  // TEST_SUITE
