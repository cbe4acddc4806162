// http_server embedded in a process with its own handler, as the dispatcher
// will use it: the handler sees the route and headers, and can replace the
// "authenticated" hook that picks the body limit.

#include "server/http_server.hpp"
#include "tests/support/http_test_client.hpp"
#include "transaction/logging.hpp"

#include <doctest/doctest.h>

#include <atomic>
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
        request.notes.user = "tester";
        request.notes.retries = 1;
        return {json{{"database", request.database.value_or("")},
                     {"method", request.method},
                     {"params", request.params},
                     {"authorization", request.http.authorization},
                     {"origin", request.http.origin},
                     {"remote", request.http.remote_address}}};
    }
    bool authenticated_for_limits(const rpc_http_info& http) const override {
        return http.authorization == "Bearer ok";
    }
    std::atomic<int> calls{0};
};

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
    CHECK(server.shutdown());
    CHECK(server.shutdown());  // idempotent
    // One info line per call, with what the handler noted.
    std::lock_guard lock(mutex);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("rpc r2 m db=db1 user=tester ", 0) == 0);
    CHECK(lines[0].find(" ok retries=1") != std::string::npos);
}

}  // TEST_SUITE
