// The SQLite backend's transactions, locking and pool, on real SQLite files.

#include "tests/database/sqlite_test_support.hpp"

#include <doctest/doctest.h>

using namespace atrium::db;
using namespace atrium::test::sqlite_support;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_SUITE("sqlite") {

// ---------------------------------------------------------------------------
// Transactions and locking

TEST_CASE("sqlite: BEGIN IMMEDIATE takes the write lock at start") {
    file_db f("?busy_wait_ms=30");
    auto first = f.db->acquire();
    auto second = f.db->acquire();
    first->begin({});  // no statement yet: the lock is already held
    const auto e = catch_database_error([&] { second->begin({}); });
    CHECK(e.is_retryable());
    CHECK(e.code() == "SQLITE_BUSY");
    CHECK_FALSE(second->in_transaction());
    CHECK_FALSE(f.sleeps.calls.empty());
    first->rollback();
}

TEST_CASE("sqlite: a second BEGIN IMMEDIATE waits through the injected sleep hook and then succeeds") {
    file_db f;
    auto first = f.db->acquire();
    auto second = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('from first')");
    // The hook never sleeps; at its third call it commits the first
    // connection. The second BEGIN IMMEDIATE can only succeed if it retried
    // through the hook (a thread sleep inside SQLite would wait forever here).
    f.sleeps.on_call = [&] {
        if (f.sleeps.calls.size() == 3) first->commit();
    };
    const auto start = std::chrono::steady_clock::now();
    second->begin({});
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(second->in_transaction());
    REQUIRE(f.sleeps.calls.size() == 3);
    CHECK(f.sleeps.calls[0] == 1ms);
    CHECK(f.sleeps.calls[1] == 2ms);
    CHECK(f.sleeps.calls[2] == 4ms);
    CHECK(took < 500ms);
    CHECK(f.count(*second) == 1);  // sees the first one's commit
    second->execute("INSERT INTO t (name) VALUES ('from second')");
    second->commit();
    CHECK(f.committed_count() == 2);
}

TEST_CASE("sqlite: BEGIN IMMEDIATE gives up after the busy wait with a retryable SQLITE_BUSY") {
    file_db f("?busy_wait_ms=50");
    CHECK(dynamic_cast<sqlite_backend&>(*f.be).busy_wait() == 50ms);
    auto first = f.db->acquire();
    auto second = f.db->acquire();
    first->begin({});
    try {
        second->begin({});
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(e.category() == error_category::retryable);
        CHECK(e.code() == "SQLITE_BUSY");
        CHECK(e.query() == "BEGIN IMMEDIATE");
        CHECK(std::string(e.what()).find("gave up") != std::string::npos);
    }
    // Back-off 1, 2, 4, 8, 16 ms, then what is left of the 50 ms.
    const std::vector<std::chrono::nanoseconds> expected{1ms, 2ms, 4ms, 8ms, 16ms, 19ms};
    CHECK(f.sleeps.calls == expected);
    CHECK_FALSE(second->in_transaction());
    first->rollback();

    // The setting can be changed later; the back-off is capped at 20 ms.
    dynamic_cast<sqlite_backend&>(*f.be).set_busy_wait(100ms);
    f.sleeps.calls.clear();
    first->begin({});
    CHECK_THROWS_AS(second->begin({}), operational_error);
    std::chrono::nanoseconds total{0};
    for (auto d : f.sleeps.calls) {
        CHECK(d <= 20ms);
        total += d;
    }
    CHECK(total == 100ms);
    first->rollback();
}

TEST_CASE("sqlite: in memory, a second writer also waits through the hook and then gets a retryable error") {
    sleep_recorder sleeps;
    auto be = open_backend("sqlite://:memory:?busy_wait_ms=10", sleeps.hooks());
    be->create("m");
    auto db = be->open("m");
    auto first = db->acquire();
    auto second = db->acquire();
    first->execute("CREATE TABLE t (x)");
    first->begin({});
    first->execute("INSERT INTO t VALUES (1)");
    const auto e = catch_database_error([&] { second->begin({}); });
    CHECK(e.is_retryable());
    CHECK(e.code() == "SQLITE_LOCKED_SHAREDCACHE");  // shared cache locks tables, never waits
    CHECK_FALSE(sleeps.calls.empty());
    first->commit();
    second->begin({});
    second->execute("INSERT INTO t VALUES (2)");
    second->commit();
}

TEST_CASE("sqlite: read-only transactions do not block a writer and keep their snapshot (WAL)") {
    file_db f;
    auto reader = f.db->acquire();
    auto writer = f.db->acquire();
    reader->begin(read_only());
    CHECK(f.count(*reader) == 0);  // the snapshot starts here
    writer->begin({});
    writer->execute("INSERT INTO t (name) VALUES ('new')");
    writer->commit();
    CHECK(f.sleeps.calls.empty());  // the writer never waited
    CHECK(f.count(*reader) == 0);   // still the old snapshot
    reader->commit();
    reader->begin(read_only());
    CHECK(f.count(*reader) == 1);
    reader->rollback();
}

TEST_CASE("sqlite: begin while a transaction is open is a programming error") {
    file_db f;
    auto c = f.db->acquire();
    c->begin({});
    const auto e = catch_database_error([&] { c->begin({}); });
    CHECK(e.category() == error_category::programming);
    CHECK(e.code() == "SQLITE_MISUSE");
    c->rollback();
    c->begin({});
    c->commit();
}

TEST_CASE("sqlite: savepoints roll back to and release") {
    file_db f;
    auto c = f.db->acquire();
    c->begin({});
    c->execute("INSERT INTO t (name) VALUES ('before')");
    c->savepoint("sp 1");
    c->execute("INSERT INTO t (name) VALUES ('inside')");
    c->savepoint("odd\"name");  // quoted as an identifier
    c->execute("INSERT INTO t (name) VALUES ('nested')");
    CHECK(f.count(*c) == 3);
    c->rollback_to_savepoint("odd\"name");
    CHECK(f.count(*c) == 2);
    c->release_savepoint("odd\"name");
    c->rollback_to_savepoint("sp 1");
    CHECK(f.count(*c) == 1);
    c->execute("INSERT INTO t (name) VALUES ('after')");
    c->release_savepoint("sp 1");
    CHECK(c->in_transaction());  // releasing did not end the transaction
    CHECK_THROWS_AS(c->rollback_to_savepoint("unknown"), programming_error);
    c->commit();
    CHECK(f.committed_count() == 2);
    // Savepoints need a transaction.
    CHECK_THROWS_AS(c->savepoint("outside"), programming_error);
    CHECK_FALSE(c->in_transaction());
}

TEST_CASE("sqlite: lock_table and lock_records are no-ops that validate the table name") {
    file_db f;
    auto c = f.db->acquire();
    c->begin({});
    c->lock_table("t");
    c->lock_table("res_user_2");
    c->lock_records("t", {1, 2, 3});
    CHECK_THROWS_AS(c->lock_table("t; DROP TABLE t"), programming_error);
    CHECK_THROWS_AS(c->lock_table("\"t\""), programming_error);
    CHECK_THROWS_AS(c->lock_table(""), programming_error);
    CHECK_THROWS_AS(c->lock_table("1t"), programming_error);
    CHECK_THROWS_AS(c->lock_records("a.b", {1}), programming_error);
    c->commit();
    CHECK(f.committed_count() == 0);
}

// ---------------------------------------------------------------------------
// The pool

TEST_CASE("sqlite: release with close=true discards the connection") {
    file_db f;
    auto a = f.db->acquire();
    const std::size_t idle_before = f.db->idle();
    a.discard();
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == idle_before);

    // A closed connection is discarded too.
    auto b = f.db->acquire();
    b->close();
    CHECK_FALSE(b->is_open());
    CHECK_THROWS_AS(b->execute("SELECT 1"), programming_error);
    b.return_to_pool();
    CHECK(f.db->idle() == idle_before);
}

TEST_CASE("sqlite: a connection released mid-transaction is rolled back before reuse") {
    file_db f;
    auto c = f.db->acquire();
    connection* p = c.get();
    c->begin(with_timeout(50ms));
    c->execute("INSERT INTO t (name) VALUES ('lost')");
    c.return_to_pool();
    CHECK(f.db->in_use() == 0);
    CHECK(f.committed_count() == 0);
    auto again = f.db->acquire();
    CHECK(again.get() == p);
    CHECK_FALSE(again->in_transaction());
    auto& s = dynamic_cast<sqlite_connection&>(*again);
    CHECK_FALSE(s.statement_timeout().has_value());
    // And the write lock was given back: another connection can write.
    {
        auto other = f.db->acquire();
        other->begin({});
        other->commit();
    }
    // A read-only one comes back writable.
    again->begin(read_only());
    again.return_to_pool();
    auto reused = f.db->acquire();
    CHECK(&*reused == p);
    CHECK_FALSE(sqlite_of(reused).refuses_writes());
    reused->execute("INSERT INTO t (name) VALUES ('ok')");
}

}  // TEST_SUITE
