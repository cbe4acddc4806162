// A call's deadline and cancellation on PostgreSQL (issue 20): the pool wait
// ends at the deadline, a running statement is cancelled there (the
// statement timeout is the time left) and the connection stays usable; a
// cancelled call's running statement gets a cancel request.

#include "tests/database/postgresql_test_support.hpp"

#include <thread>

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

double seconds_since(steady_clock::time_point start) {
    return std::chrono::duration<double>(steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("postgresql deadline: pg_sleep(10) is cancelled at a 1 s deadline; the connection stays usable") {
    pg_db f("?pool_size=1");
    std::int64_t pid = 0;
    const auto start = steady_clock::now();
    {
        auto scope = atrium::begin(f.db, 0, {.deadline = start + 1s});
        pid = pid_of(scope->connection());
        scope->connection().execute("INSERT INTO note (text) VALUES ('before the sleep')");
        try {
            scope->connection().execute("SELECT pg_sleep(10)");
            FAIL("no timeout");
        } catch (const timeout_error& e) {
            CHECK(e.code() == "57014");
            CHECK(e.category() == atrium::error_category::timeout);
        }
        const double took = seconds_since(start);
        CHECK(took >= 0.9);
        CHECK(took < 2.0);
        scope.close(false);
    }
    auto scope = atrium::begin(f.db, 0);
    CHECK(pid_of(scope->connection()) == pid);  // the same connection, not discarded
    CHECK(show(scope->connection(), "statement_timeout") == "0");  // nothing leaked
    CHECK(scope->connection().execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});
    scope.close(true);
}

TEST_CASE("postgresql deadline: the statement timeout follows the time left") {
    pg_db f;
    auto scope = atrium::begin(f.db, 0, {.deadline = steady_clock::now() + 10s});
    const auto first = std::stoi(show(scope->connection(), "statement_timeout"));  // "10s" or "9999ms"
    CHECK(first > 0);
    std::this_thread::sleep_for(2s);
    const std::string later = show(scope->connection(), "statement_timeout");
    // Lowered to about 8 s (PostgreSQL shows whole seconds as "8s").
    CHECK(later != "10s");
    CHECK(later != "0");
    scope.close(true);
}

TEST_CASE("postgresql deadline: the pool wait ends at the deadline, not at pool_wait_ms") {
    pg_db f("?pool_size=1&pool_wait_ms=5000");
    auto held = f.db->acquire();
    const auto start = steady_clock::now();
    try {
        // Read-only: a first writer would make the database's two-phase-commit id first (its own acquire).
        auto scope = atrium::begin(f.db, 0, {.readonly = true, .deadline = start + 300ms});
        FAIL("a connection was handed out");
    } catch (const timeout_error& e) {
        CHECK(e.code() == "57014");
        CHECK(std::string(e.what()).find("waiting for a connection") != std::string::npos);
    }
    const double took = seconds_since(start);
    CHECK(took >= 0.25);
    CHECK(took < 1.5);
    // Without a deadline the pool's own limit still applies (unavailable, 53300).
    held.return_to_pool();
    auto scope = atrium::begin(f.db, 0, {.deadline = steady_clock::now() + 300ms});
    scope.close(true);
}

TEST_CASE("postgresql deadline: cancelling the call cancels its running statement") {
    pg_db f("?pool_size=1");
    auto cancel = std::make_shared<cancellation>();
    const auto start = steady_clock::now();
    std::thread canceller([&] {
        std::this_thread::sleep_for(300ms);
        cancel->cancel();
    });
    {
        auto scope = atrium::begin(f.db, 0, {.cancel = cancel});
        try {
            scope->connection().execute("SELECT pg_sleep(10)");
            FAIL("not cancelled");
        } catch (const database_error& e) {
            CHECK(e.category() == atrium::error_category::timeout);
        }
        scope.close(false);
    }
    canceller.join();
    CHECK(seconds_since(start) < 2.0);
    // Cancelled: nothing more starts for it.
    CHECK(throws_as<timeout_error>([&] { auto scope = atrium::begin(f.db, 0, {.cancel = cancel}); scope->connection().execute("SELECT 1"); }));
    // The pool serves the next caller (the cancelled connection was closed).
    auto scope = atrium::begin(f.db, 0);
    CHECK(scope->connection().execute("SELECT 1").size() == 1);
    scope.close(true);
}
