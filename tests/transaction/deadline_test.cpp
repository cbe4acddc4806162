// A call's deadline in the transaction layer (issue 20): the retry loop's
// retries, fixes and back-offs stop at it, a transaction started past it
// never gets a connection, and the fiber's call limits apply to every
// transaction begun under them.

#include "database/errors.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/errors.hpp"
#include "transaction/retry.hpp"
#include "transaction/tpc_identity.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace atrium;
using atrium::test::test_database;
using nlohmann::json;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

db::operational_error busy() {
    return db::operational_error("database is locked", db::error_category::retryable, "SQLITE_BUSY");
}

}  // namespace

TEST_CASE("deadline: retryable errors are not retried past the call's deadline") {
    test_database f;
    int calls = 0;
    retry_options options;
    options.retry = 1000;
    options.backoff = 100ms;  // 100, 200, 300 ms … : the fourth would end past 500 ms
    options.start.deadline = steady_clock::now() + 500ms;
    const auto start = steady_clock::now();
    CHECK_THROWS_AS(call_with_retry(f.db, 1, options,
                                    [&](transaction&) -> json {
                                        ++calls;
                                        throw busy();
                                    }),
                    db::timeout_error);
    CHECK(calls <= 3);
    CHECK(steady_clock::now() - start < 600ms);
    CHECK(fiber_state().stack().empty());
}

TEST_CASE("deadline: lock fixes stop at the call's deadline") {
    test_database f;
    f.execute("CREATE TABLE t_deadline (id INTEGER)");
    int calls = 0;
    retry_options options;
    options.start.deadline = steady_clock::now() + 200ms;
    CHECK_THROWS_AS(call_with_retry(f.db, 1, options,
                                    [&](transaction& txn) -> json {
                                        ++calls;
                                        std::this_thread::sleep_for(150ms);
                                        txn.lock_table("t_deadline");  // fixed, then retried: past the deadline
                                        return nullptr;
                                    }),
                    db::timeout_error);
    CHECK(calls == 2);
}

TEST_CASE("deadline: the fiber's call limits bound every transaction; a passed deadline gets no connection") {
    test_database f;
    call_limits_scope limits({steady_clock::now() - 1ms, nullptr});
    CHECK_THROWS_AS(
        [&] {
            auto scope = begin(f.db, 1);
            scope->connection().execute("SELECT 1");
        }(),
        db::timeout_error);
    CHECK(fiber_state().stack().empty());
    // An explicit later deadline cannot escape the call's.
    CHECK_THROWS_AS(
        [&] {
            auto scope = begin(f.db, 1, {.deadline = steady_clock::now() + 10s});
            scope->connection().execute("SELECT 1");
        }(),
        db::timeout_error);
}

TEST_CASE("deadline: a call within its deadline commits as usual") {
    test_database f;
    call_limits_scope limits({steady_clock::now() + 10s, nullptr});
    auto result = call_with_retry(f.db, 1, {}, [&](transaction& txn) {
        txn.connection().execute("INSERT INTO note (text) VALUES ('in time')");
        return json(true);
    });
    CHECK(result == true);
    CHECK(f.committed_notes() == std::vector<std::string>{"in time"});
}

namespace {

// A statement that runs for many seconds on both backends without sleeping
// (so SQLite, which has no pg_sleep, is stopped mid-statement too).
constexpr const char* k_long_count =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c";

double seconds_since(steady_clock::time_point start) {
    return std::chrono::duration<double>(steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("deadline: a running statement is stopped at the call's deadline, and the connection serves again") {
    test_database f;
    const auto start = steady_clock::now();
    try {
        auto scope = begin(f.db, 1, {.deadline = start + 400ms});
        scope->connection().execute("INSERT INTO note (text) VALUES ('lost')");
        scope->connection().execute(k_long_count);
        FAIL("the statement ran past the deadline");
    } catch (const db::timeout_error& e) {
        CHECK(e.category() == error_category::timeout);
    }
    const double took = seconds_since(start);
    CHECK(took >= 0.35);
    CHECK(took < 2.0);
    CHECK(fiber_state().stack().empty());
    CHECK(f.committed_notes().empty());
    // The next call gets a working connection.
    auto result = call_with_retry(f.db, 1, {}, [&](transaction& txn) {
        txn.connection().execute("INSERT INTO note (text) VALUES ('next')");
        return json(true);
    });
    CHECK(result == true);
    CHECK(f.committed_notes() == std::vector<std::string>{"next"});
}

TEST_CASE("deadline: a running statement is stopped when the call is cancelled (the client went away)") {
    test_database f;
    auto cancel = std::make_shared<db::cancellation>();
    const auto start = steady_clock::now();
    std::thread canceller([&] {
        std::this_thread::sleep_for(300ms);
        cancel->cancel();
    });
    try {
        call_limits_scope limits({steady_clock::now() + 60s, cancel});
        auto scope = begin(f.db, 1);
        scope->connection().execute(k_long_count);
        FAIL("the statement was not stopped");
    } catch (const db::timeout_error& e) {
        CHECK(e.category() == error_category::timeout);
    }
    canceller.join();
    CHECK(seconds_since(start) < 2.0);
    CHECK(fiber_state().stack().empty());
}

TEST_CASE("deadline: a statement timeout shorter than the time left still reports a statement timeout") {
    test_database f;
    const auto start = steady_clock::now();
    try {
        auto scope = begin(f.db, 1, {.timeout = 200ms, .deadline = start + 30s});
        scope->connection().execute(k_long_count);
        FAIL("the statement timeout did not stop the statement");
    } catch (const db::timeout_error& e) {
        CHECK(std::string(e.what()).find("statement timeout") != std::string::npos);
    }
    CHECK(seconds_since(start) < 2.0);
}

TEST_CASE("deadline: making the database's tpc identity obeys the call's limits") {
    test_database f;
    {
        call_limits_scope limits({steady_clock::now() - 1ms, nullptr});
        CHECK_THROWS_AS(tpc::ensure_database_id(*f.db), db::timeout_error);
    }
    // Without a passed deadline it is made (and read back the same).
    const auto id = tpc::ensure_database_id(*f.db);
    CHECK(id.size() == 32);
    CHECK(tpc::read_database_id(*f.db) == id);
}
