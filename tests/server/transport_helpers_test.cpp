// Pure pieces of the transport: routes, CORS origins, Accept-Encoding,
// Authorization syntax, gzip caps, the worker pool (base64: tests/util).

#include "server/gzip.hpp"
#include "server/http_rules.hpp"
#include "server/rpc_handler.hpp"
#include "server/worker_pool.hpp"
#include "tests/support/run_in_fiber.hpp"
#include "transaction/fiber_context.hpp"
#include "util/base64.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

using namespace atrium::server;
using atrium::util::base64_encode;

TEST_SUITE("transport") {

TEST_CASE("routes: /, /<db>/, /<db>/rpc/; anything else is 404") {
    REQUIRE(match_route("/"));
    CHECK_FALSE(match_route("/")->database);
    CHECK(match_route("/?x=1")->database == std::nullopt);
    CHECK(match_route("/db1/")->database == "db1");
    CHECK(match_route("/db_1.test-2/rpc/")->database == "db_1.test-2");
    CHECK(match_route("/my%2Ddb/")->database == "my-db");
    CHECK_FALSE(match_route("/db1"));
    CHECK_FALSE(match_route("/../"));
    CHECK_FALSE(match_route("/./"));
    CHECK_FALSE(match_route("/a/b/"));
    CHECK_FALSE(match_route("/a%2Fb/"));
    CHECK_FALSE(match_route("/a%27b/"));
    CHECK_FALSE(match_route("/a'b/"));
    CHECK_FALSE(match_route("/a\"b/"));
    CHECK_FALSE(match_route("/%2E%2E/"));
    CHECK_FALSE(match_route("/a%zz/"));
    CHECK_FALSE(match_route("//"));
    CHECK_FALSE(match_route("/db/other/"));
}

TEST_CASE("CORS origins (SPEC 8.1)") {
    const std::vector<std::string> allowed{"https://app.example.com"};
    CHECK(origin_allowed("", "h:8000", allowed));
    CHECK(origin_allowed("http://h:8000", "h:8000", allowed));
    CHECK(origin_allowed("https://app.example.com", "h:8000", allowed));
    CHECK_FALSE(origin_allowed("https://evil.example.com", "h:8000", allowed));
    CHECK_FALSE(origin_allowed("null", "h:8000", allowed));
    CHECK(origin_allowed("null", "h:8000", allowed, true));
}

TEST_CASE("Accept-Encoding") {
    CHECK(accepts_gzip("gzip"));
    CHECK(accepts_gzip("deflate, GZIP;q=0.5"));
    CHECK(accepts_gzip("*"));
    CHECK_FALSE(accepts_gzip(""));
    CHECK_FALSE(accepts_gzip("br"));
    CHECK_FALSE(accepts_gzip("gzip;q=0"));
    CHECK_FALSE(accepts_gzip("gzipx"));
}

TEST_CASE("Authorization syntax (SPEC 7.1)") {
    CHECK(syntactically_authenticated("Session " + base64_encode("admin:1:key")));
    CHECK(syntactically_authenticated("session " + base64_encode("admin:1:key")));
    CHECK_FALSE(syntactically_authenticated("Session " + base64_encode("admin:x:key")));
    CHECK_FALSE(syntactically_authenticated("Session " + base64_encode("admin:1:key:more")));
    CHECK_FALSE(syntactically_authenticated("Session " + base64_encode("admin:1")));
    CHECK_FALSE(syntactically_authenticated("Session !!!"));
    CHECK(syntactically_authenticated("Basic " + base64_encode("admin:secret")));
    CHECK_FALSE(syntactically_authenticated("Basic " + base64_encode("nocolon")));
    CHECK_FALSE(syntactically_authenticated("Bearer abc"));
    CHECK_FALSE(syntactically_authenticated(""));
}

TEST_CASE("gzip: round trip, inflated size capped, garbage refused") {
    const std::string text(100000, 'a');
    const auto compressed = gzip_deflate(text);
    CHECK(compressed.size() < 1000);
    std::string out;
    CHECK(gzip_inflate(compressed, text.size(), out) == inflate_status::ok);
    CHECK(out == text);
    CHECK(gzip_inflate(compressed, text.size() - 1, out) == inflate_status::too_large);
    CHECK(gzip_inflate("not gzip at all", 1000, out) == inflate_status::invalid);
    CHECK(gzip_inflate(compressed.substr(0, compressed.size() / 2), text.size(), out) == inflate_status::invalid);
}

TEST_CASE("worker pool: run_blocking suspends the fiber, not its thread") {
    worker_pool pool(2);
    worker_pool* previous = set_blocking_pool(&pool);
    struct restore {
        worker_pool* previous;
        ~restore() { set_blocking_pool(previous); }
    } restore_on_exit{previous};
    const auto caller = std::this_thread::get_id();
    atrium::test::run_in_fiber([&] {
        const auto context = &atrium::fiber::current();
        std::thread::id worker;
        const int value = run_blocking([&] {
            worker = std::this_thread::get_id();
            return 42;
        });
        CHECK(value == 42);
        CHECK(worker != caller);
        CHECK(&atrium::fiber::current() == context);  // resumed in its own context
        CHECK_THROWS_AS(run_blocking([] { throw std::runtime_error("boom"); }), std::runtime_error);
    });
    // Outside a fiber it simply blocks.
    CHECK(run_blocking([] { return 7; }) == 7);
}

}  // TEST_SUITE
