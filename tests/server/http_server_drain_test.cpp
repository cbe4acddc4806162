// http_server's end: a call still running when web.drain_timeout cuts it off
// finishes on its fiber before the server's io_contexts are destroyed (they are
// drained first), instead of being unwound while suspended.

#include "fiber/context.hpp"
#include "fiber/unwind.hpp"
#include "server/http_server.hpp"
#include "tests/support/http_test_client.hpp"
#include "transaction/logging.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

using namespace atrium::server;
using atrium::test::http_call;
using atrium::test::http_test_client;
using json = nlohmann::json;

namespace {

/// "work" takes 300 ms on its fiber; records how the call ended.
class slow_handler : public rpc_handler {
public:
    rpc_result handle(const rpc_request&) override {
        struct on_exit {
            std::atomic<bool>& flag;
            ~on_exit() { flag = true; }
        } mark_destroyed{ended};
        started.set_value();
        try {
            atrium::fiber::current().sleep_for(std::chrono::milliseconds(300));
        } catch (...) {
            unwound = atrium::fiber::is_unwinding(std::current_exception());
            throw;
        }
        finished = true;
        return {json("done")};
    }
    bool authenticated_for_limits(const std::optional<std::string>&, const rpc_http_info&) override { return false; }

    std::promise<void> started;
    std::atomic<bool> finished{false};
    std::atomic<bool> unwound{false};
    std::atomic<bool> ended{false};
};

}  // namespace

TEST_SUITE("http") {

TEST_CASE("http_server: a call cut off by the drain timeout finishes before the io_contexts are destroyed") {
    atrium::scoped_log_sink quiet([](atrium::log_level, std::string_view) {});  // the drain-timeout warning
    slow_handler handler;
    auto started = handler.started.get_future();
    std::thread client;
    {
        config cfg;
        cfg.web.host = "127.0.0.1";
        cfg.web.port = 0;
        cfg.web.threads = 1;
        cfg.web.workers = 1;
        cfg.web.drain_timeout = 0;  // cut off at once
        http_server server(cfg, handler);
        server.start();
        const auto port = server.port();
        client = std::thread([port] {
            try {
                (void)http_call(port, http_test_client::post("/db1/", R"({"id": 1, "method": "work", "params": []})"));
            } catch (const std::exception&) {
                // The connection may close without an answer: only the fiber's end matters here.
            }
        });
        started.wait();  // the call is in flight, its fiber suspended in sleep_for
        CHECK_FALSE(server.shutdown());  // web.drain_timeout = 0 cuts it off
        CHECK_FALSE(handler.finished);
    }  // ~http_server: the io_context is drained, then destroyed
    client.join();
    CHECK(handler.ended);
    CHECK(handler.finished);  // without the drain, the destruction would unwind it
    CHECK_FALSE(handler.unwound);
}

}  // TEST_SUITE
