// The SQLite backend against real SQLite files in a temporary directory
// (tests/support/temp_dir.hpp): what only SQLite does or says. The behaviour
// every backend shares is tested on SQLite by conformance_test.cpp.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/sqlite/sqlite_backend.hpp"
#include "database/sqlite/sqlite_connection.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium::db;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using scratch_dir = atrium::test::temp_dir;

// A wait hook that records what it was asked and never sleeps the thread.
struct sleep_recorder {
    std::vector<std::chrono::nanoseconds> calls;
    std::function<void()> on_call;

    wait_hooks hooks() {
        wait_hooks hooks;
        hooks.sleep_for = [this](std::chrono::nanoseconds d) {
            calls.push_back(d);
            if (on_call) on_call();
        };
        return hooks;
    }
};

// The SQLite connection behind a pooled connection.
sqlite_connection& sqlite_of(const pooled_connection& conn) { return dynamic_cast<sqlite_connection&>(*conn); }

// A directory backend with one database "test" holding a table t.
struct file_db {
    scratch_dir dir;
    sleep_recorder sleeps;
    std::unique_ptr<backend> be;
    std::shared_ptr<database> db;

    explicit file_db(const std::string& uri_query = "") {
        be = open_backend("sqlite://" + dir.path().string() + uri_query, sleeps.hooks());
        be->create("test");
        db = be->open("test");
        auto c = db->acquire();
        c->execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)");
    }

    std::int64_t count(connection& c) {
        return std::get<std::int64_t>(c.execute("SELECT count(*) FROM t").rows.at(0).at(0));
    }
    std::int64_t committed_count() {
        auto c = db->acquire();
        return count(*c);
    }
};

begin_options read_only() {
    begin_options o;
    o.readonly = true;
    return o;
}

begin_options with_timeout(std::chrono::milliseconds timeout) {
    begin_options o;
    o.statement_timeout = timeout;
    return o;
}

begin_options autocommit(std::optional<std::chrono::milliseconds> timeout = {}) {
    begin_options o;
    o.autocommit = true;
    o.statement_timeout = timeout;
    return o;
}

template <class F>
database_error catch_database_error(F&& f) {
    try {
        f();
    } catch (const database_error& e) {
        return e;
    }
    FAIL("no database_error was thrown");
    return database_error("", error_category::other, "");
}

}  // namespace

TEST_SUITE("sqlite") {

// ---------------------------------------------------------------------------
// Statements, parameters, results

TEST_CASE("sqlite: bound parameters of every type round-trip") {
    file_db f;
    auto c = f.db->acquire();
    c->execute("CREATE TABLE v (k INTEGER, x)");

    const std::string quotes = "O'Brien said \"hi\"; DROP TABLE v; --";
    const std::string with_nul("a\0b\0", 4);
    const std::string unicode = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac";
    const blob bytes{{0x00, 0x01, 0x00, 0xff, 0x00}};
    const std::vector<value> values = {
        value{nullptr},
        value{std::int64_t{0}},
        value{std::numeric_limits<std::int64_t>::max()},
        value{std::numeric_limits<std::int64_t>::min()},
        value{3.25},
        value{-1e300},
        value{std::string{}},
        value{quotes},
        value{with_nul},
        value{unicode},
        value{bytes},
        value{blob{}},
    };
    for (std::size_t i = 0; i < values.size(); ++i) {
        const auto r = c->execute("INSERT INTO v (k, x) VALUES (?, ?)",
                                  {value{static_cast<std::int64_t>(i)}, values[i]});
        CHECK(r.affected_rows == 1);
    }
    // The quotes did not reach the SQL: the table is still there, one row per value.
    const auto all = c->execute("SELECT k, x, typeof(x) FROM v ORDER BY k");
    REQUIRE(all.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        CAPTURE(i);
        CHECK(all.rows[i][1] == values[i]);
    }
    CHECK(std::get<std::string>(all.rows[0][2]) == "null");
    CHECK(std::get<std::string>(all.rows[1][2]) == "integer");
    CHECK(std::get<std::string>(all.rows[4][2]) == "real");
    CHECK(std::get<std::string>(all.rows[7][2]) == "text");
    CHECK(std::get<std::string>(all.rows[10][2]) == "blob");
    CHECK(std::get<std::string>(all.rows[11][2]) == "blob");  // empty blob is not NULL
    CHECK(std::get<std::string>(all.rows[8][1]).size() == 4);  // NUL bytes kept in text

    // Parameters compare as values, not as SQL text.
    const auto found = c->execute("SELECT k FROM v WHERE x = ?", {value{quotes}});
    REQUIRE(found.size() == 1);
    CHECK(std::get<std::int64_t>(found.rows[0][0]) == 7);
    const auto by_blob = c->execute("SELECT k FROM v WHERE x = ?", {value{bytes}});
    REQUIRE(by_blob.size() == 1);
    CHECK(std::get<std::int64_t>(by_blob.rows[0][0]) == 10);
}

TEST_CASE("sqlite: a wrong number of parameters is a programming error") {
    file_db f;
    auto c = f.db->acquire();
    const auto e = catch_database_error([&] { c->execute("SELECT ?, ?", {value{std::int64_t{1}}}); });
    CHECK(e.category() == error_category::programming);
    CHECK(e.code() == "SQLITE_RANGE");
    CHECK(e.query() == "SELECT ?, ?");
    CHECK_THROWS_AS(c->execute("SELECT 1", {value{std::int64_t{1}}}), programming_error);
}

TEST_CASE("sqlite: prepared statements are cached per connection by SQL text") {
    file_db f;
    auto c = f.db->acquire();
    auto& s = sqlite_of(c);
    const auto before = s.cached_statements();
    for (std::int64_t i = 0; i < 10; ++i) {
        c->execute("INSERT INTO t (name, n) VALUES (?, ?)",
                   {value{"n" + std::to_string(i)}, value{i}});
    }
    CHECK(s.cached_statements() == before + 1);
    CHECK(f.count(*c) == 10);
    // After an error the cached statement is reset and works again.
    CHECK_THROWS_AS(c->execute("INSERT INTO t (name, n) VALUES (?, ?)",
                               {value{std::string("n1")}, value{std::int64_t{1}}}),
                    integrity_error);
    c->execute("INSERT INTO t (name, n) VALUES (?, ?)", {value{std::string("n99")}, value{nullptr}});
    CHECK(f.count(*c) == 11);
}

// ---------------------------------------------------------------------------
// Errors

TEST_CASE("sqlite: a unique violation is an integrity_error with SQLITE_CONSTRAINT_UNIQUE") {
    file_db f;
    auto c = f.db->acquire();
    c->execute("INSERT INTO t (name) VALUES (?)", {value{std::string("dup")}});
    try {
        c->execute("INSERT INTO t (name) VALUES (?)", {value{std::string("dup")}});
        FAIL("no error");
    } catch (const integrity_error& e) {
        CHECK(e.category() == error_category::integrity);
        CHECK(e.code() == "SQLITE_CONSTRAINT_UNIQUE");
        CHECK(e.native_code() == 2067);
        CHECK(e.query() == "INSERT INTO t (name) VALUES (?)");
        CHECK(std::string(e.what()).find("UNIQUE constraint failed: t.name") != std::string::npos);
    }
}

TEST_CASE("sqlite: a syntax error or a missing table is a programming_error") {
    file_db f;
    auto c = f.db->acquire();
    const auto syntax = catch_database_error([&] { c->execute("SELEC 1"); });
    CHECK_THROWS_AS(c->execute("SELEC 1"), programming_error);
    CHECK(syntax.category() == error_category::programming);
    CHECK(syntax.code() == "SQLITE_ERROR");
    CHECK(syntax.query() == "SELEC 1");

    const auto missing = catch_database_error([&] { c->execute("SELECT * FROM nowhere"); });
    CHECK(missing.category() == error_category::programming);
    CHECK(std::string(missing.what()).find("no such table: nowhere") != std::string::npos);
    // Double quotes are identifiers only: no silent fallback to a string.
    CHECK_THROWS_AS(c->execute("SELECT \"no_such_column\" FROM t"), programming_error);
}

TEST_CASE("sqlite: a statement that meets a busy database fails at once with a retryable error") {
    file_db f;
    auto writer = f.db->acquire();
    auto other = f.db->acquire();
    writer->begin({});
    writer->execute("INSERT INTO t (name) VALUES ('w')");
    const auto start = std::chrono::steady_clock::now();
    try {
        other->execute("INSERT INTO t (name) VALUES ('o')");  // autocommit: needs the write lock
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(e.category() == error_category::retryable);
        CHECK(e.is_retryable());
        CHECK(e.code() == "SQLITE_BUSY");
        CHECK(e.native_code() == 5);
    }
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(f.sleeps.calls.empty());  // only BEGIN IMMEDIATE and COMMIT wait
    writer->commit();
    CHECK(f.committed_count() == 1);
}

TEST_CASE("sqlite: a write in a read-only transaction is a programming_error that says so") {
    file_db f;
    auto c = f.db->acquire();
    c->begin(read_only());
    CHECK(c->readonly());
    CHECK(sqlite_of(c).refuses_writes());
    CHECK(f.count(*c) == 0);  // reading is fine
    try {
        c->execute("INSERT INTO t (name) VALUES ('x')");
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(e.category() == error_category::programming);
        CHECK(e.code() == "SQLITE_READONLY");
        CHECK(std::string(e.what()).find("read-only transaction") != std::string::npos);
    }
    CHECK_THROWS_AS(c->execute("CREATE TABLE nope (x)"), programming_error);
    c->commit();
    // The read-only setting ends with the transaction.
    CHECK_FALSE(c->readonly());
    CHECK_FALSE(sqlite_of(c).refuses_writes());
    c->begin({});
    c->execute("INSERT INTO t (name) VALUES ('x')");
    c->commit();
    CHECK(f.committed_count() == 1);

    // Same after a rollback.
    c->begin(read_only());
    c->rollback();
    CHECK_FALSE(sqlite_of(c).refuses_writes());
}

TEST_CASE("sqlite: read-only transactions keep the statement cache valid (nothing is re-prepared)") {
    file_db f;
    auto c = f.db->acquire();
    c->begin({});
    c->execute("INSERT INTO t (name) VALUES ('x')");
    c->commit();
    for (int i = 0; i < 3; ++i) {
        c->begin(read_only());
        CHECK(f.count(*c) == 1);
        c->commit();
        c->begin({});
        CHECK(f.count(*c) == 1);
        c->execute("INSERT INTO t (name) VALUES ('y')");
        c->rollback();
    }
    CHECK(sqlite_of(c).cached_statements() >= 2);
    CHECK(sqlite_of(c).reprepare_count() == 0);
}

TEST_CASE("sqlite: LIKE matches case on every connection, as in PostgreSQL") {
    file_db f;
    auto c = f.db->acquire();
    c->begin(read_only());
    auto r = c->execute("SELECT 'Abc' LIKE 'abc', 'Abc' LIKE 'A%', lower('Abc') LIKE 'abc'");
    CHECK(std::get<std::int64_t>(r.rows.at(0).at(0)) == 0);
    CHECK(std::get<std::int64_t>(r.rows.at(0).at(1)) == 1);
    CHECK(std::get<std::int64_t>(r.rows.at(0).at(2)) == 1);
    c->commit();
}

TEST_CASE("sqlite: a statement timeout raises timeout_error and does not leak to the next transaction") {
    file_db f;
    const char* endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    const char* long_query =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000) "
        "SELECT count(*) FROM c";
    connection* first = nullptr;
    {
        auto c = f.db->acquire();
        first = &*c;
        c->begin(with_timeout(20ms));
        CHECK(sqlite_of(c).statement_timeout() == std::chrono::milliseconds(20));
        c->execute("INSERT INTO t (name) VALUES ('kept until rollback')");
        const auto start = std::chrono::steady_clock::now();
        try {
            c->execute(endless);
            FAIL("no timeout");
        } catch (const timeout_error& e) {
            CHECK(e.category() == error_category::timeout);
            CHECK_FALSE(e.is_retryable());
            CHECK(e.code() == "SQLITE_INTERRUPT");
            CHECK(e.query() == endless);
            CHECK(std::string(e.what()).find("statement timeout") != std::string::npos);
        }
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        // The timeout is per statement: a short one still runs.
        CHECK(f.count(*c) == 1);
        c->rollback();
        CHECK_FALSE(sqlite_of(c).statement_timeout().has_value());
    }
    // The pool hands the same connection back (LIFO); without a timeout a
    // statement longer than the old timeout runs to the end.
    auto again = f.db->acquire();
    CHECK(&*again == first);
    again->begin({});
    const auto start = std::chrono::steady_clock::now();
    const auto r = again->execute(long_query);
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(std::get<std::int64_t>(r.rows.at(0).at(0)) == 500000);
    WARN_MESSAGE(took > 20ms, "the long query was too fast to prove the timeout was cleared");
    again->commit();

    // Also cleared by commit, and in an autocommit "transaction".
    again->begin(autocommit(5ms));
    CHECK_THROWS_AS(again->execute(endless), timeout_error);
    again->commit();
    CHECK(again->execute(long_query).size() == 1);
}

TEST_CASE("sqlite: a write interrupted by the timeout rolls back the whole transaction, and commit says so") {
    file_db f;
    auto c = f.db->acquire();
    c->begin(with_timeout(20ms));
    c->execute("INSERT INTO t (name) VALUES ('first')");
    CHECK_THROWS_AS(
        c->execute("INSERT INTO t (n) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                   "FROM c) SELECT x FROM c"),
        timeout_error);
    // SQLite rolled the transaction back: later statements must not autocommit.
    const auto next = catch_database_error([&] { c->execute("INSERT INTO t (name) VALUES ('x')"); });
    CHECK(next.code() == "SQLITE_ABORT_ROLLBACK");
    const auto at_commit = catch_database_error([&] { c->commit(); });
    CHECK(at_commit.code() == "SQLITE_ABORT_ROLLBACK");
    CHECK_FALSE(c->in_transaction());
    CHECK(f.committed_count() == 0);
}

TEST_CASE("sqlite: every connection runs WAL, foreign_keys=ON and synchronous=FULL") {
    file_db f;
    auto a = f.db->acquire();
    auto b = f.db->acquire();
    for (connection* c : {&*a, &*b}) {
        CHECK(std::get<std::string>(c->execute("PRAGMA journal_mode").rows.at(0).at(0)) == "wal");
        CHECK(std::get<std::int64_t>(c->execute("PRAGMA foreign_keys").rows.at(0).at(0)) == 1);
        CHECK(std::get<std::int64_t>(c->execute("PRAGMA synchronous").rows.at(0).at(0)) == 2);
    }
}

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

// ---------------------------------------------------------------------------
// Backends: create, drop, list, exists, names, URIs

TEST_CASE("sqlite: create, exists, list and drop on a directory backend") {
    scratch_dir dir;
    auto be = open_backend("sqlite://" + (dir.path() / "sub" / "dir").string());
    CHECK(be->name() == "sqlite");
    CHECK(fs::is_directory(dir.path() / "sub" / "dir"));  // created
    CHECK(be->list().empty());
    CHECK_FALSE(be->exists("beta"));

    be->create("beta");
    be->create("alpha");
    be->create("Gamma-2_x");
    CHECK(be->exists("beta"));
    CHECK(fs::is_regular_file(dir.path() / "sub" / "dir" / "beta.sqlite"));
    CHECK(be->list() == std::vector<std::string>{"Gamma-2_x", "alpha", "beta"});

    {
        auto db = be->open("beta");
        CHECK(db->name() == "beta");
        CHECK(db->backend_name() == "sqlite");
        auto c = db->acquire();
        c->execute("CREATE TABLE x (v)");
        c->execute("INSERT INTO x VALUES (1)");
    }
    // A second backend on the same directory sees the data.
    {
        auto be2 = open_backend("sqlite://" + (dir.path() / "sub" / "dir").string());
        auto c = be2->open("beta")->acquire();
        CHECK(c->execute("SELECT v FROM x").size() == 1);
    }
    be->drop("beta");
    CHECK_FALSE(be->exists("beta"));
    CHECK(be->list() == std::vector<std::string>{"Gamma-2_x", "alpha"});
    for (const char* f : {"beta.sqlite", "beta.sqlite-wal", "beta.sqlite-shm"}) {
        CHECK_FALSE(fs::exists(dir.path() / "sub" / "dir" / f));
    }
    // Created again, it is empty.
    be->create("beta");
    auto c = be->open("beta")->acquire();
    CHECK_THROWS_AS(c->execute("SELECT v FROM x"), programming_error);
}

TEST_CASE("sqlite: create, exists, list and drop in memory") {
    auto be = open_backend("sqlite://:memory:");
    auto& sb = dynamic_cast<sqlite_backend&>(*be);
    CHECK(sb.is_in_memory());
    CHECK(be->list().empty());
    be->create("one");
    be->create("two");
    CHECK(be->exists("one"));
    CHECK(be->list() == std::vector<std::string>{"one", "two"});
    {
        auto c = be->open("one")->acquire();
        c->execute("CREATE TABLE x (v)");
        c->execute("INSERT INTO x VALUES (?)", {value{std::string("kept")}});
        CHECK(std::get<std::int64_t>(c->execute("PRAGMA foreign_keys").rows.at(0).at(0)) == 1);
    }
    {
        // Two connections share the database (shared cache).
        auto db = be->open("one");
        auto a = db->acquire();
        auto b = db->acquire();
        CHECK(b.get() != &*a);
        CHECK(b->execute("SELECT v FROM x").size() == 1);
        b.discard();
        a->close();
    }
    // All pooled connections closed: the anchor keeps the data.
    {
        auto db = be->open("one");
        auto c = db->acquire();
        CHECK(std::get<std::string>(c->execute("SELECT v FROM x").rows.at(0).at(0)) == "kept");
    }
    // "two" is another database; another backend has its own databases.
    {
        auto c = be->open("two")->acquire();
        CHECK_THROWS_AS(c->execute("SELECT v FROM x"), programming_error);
    }
    auto other = open_backend("sqlite://:memory:");
    CHECK_FALSE(other->exists("one"));
    other->create("one");
    {
        auto c = other->open("one")->acquire();
        CHECK_THROWS_AS(c->execute("SELECT v FROM x"), programming_error);
    }

    be->drop("one");
    CHECK_FALSE(be->exists("one"));
    CHECK(be->list() == std::vector<std::string>{"two"});
    CHECK_THROWS_AS(be->open("one"), operational_error);
    be->create("one");
    auto c = be->open("one")->acquire();
    CHECK_THROWS_AS(c->execute("SELECT v FROM x"), programming_error);  // a new, empty database
}

TEST_CASE("sqlite: database names are validated") {
    scratch_dir dir;
    auto be = open_backend("sqlite://" + dir.path().string());
    for (const char* bad : {"../escape", "a/b", "a b", "a.b", "semi;colon", "quote'", "nul\n"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(be->create(bad), invalid_database_name);
        CHECK_THROWS_AS(be->open(bad), invalid_database_name);
        CHECK_THROWS_AS(be->exists(bad), invalid_database_name);
        CHECK_THROWS_AS(be->drop(bad), invalid_database_name);
    }
    CHECK_THROWS_AS(be->create(std::string(64, 'a')), invalid_database_name);
    CHECK_THROWS_AS(be->create(""), invalid_database_name);
    CHECK_THROWS_AS(be->drop(""), invalid_database_name);
    be->create(std::string(63, 'a'));
    be->create("Ok-name_09");
    CHECK(be->list().size() == 2);
    CHECK(fs::is_regular_file(dir.path() / "Ok-name_09.sqlite"));

    // Files that are not databases of ours are not listed.
    { std::FILE* f = std::fopen((dir.path() / "not a db.sqlite").c_str(), "w"); std::fclose(f); }
    { std::FILE* f = std::fopen((dir.path() / "notes.txt").c_str(), "w"); std::fclose(f); }
    CHECK(be->list().size() == 2);

    // The empty name is the maintenance database: it opens, runs SQL, is not listed.
    CHECK_FALSE(be->exists(""));
    auto maintenance = be->open("");
    CHECK(maintenance->name().empty());
    auto c = maintenance->acquire();
    CHECK(c->execute("SELECT 1").size() == 1);
    CHECK(be->list().size() == 2);
}

TEST_CASE("sqlite: create of an existing database and drop or open of a missing one fail clearly") {
    scratch_dir dir;
    auto be = open_backend("sqlite://" + dir.path().string());
    be->create("db");
    try {
        be->create("db");
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(std::string(e.what()).find("\"db\" already exists") != std::string::npos);
    }
    try {
        be->drop("missing");
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(std::string(e.what()).find("\"missing\"") != std::string::npos);
        CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
    }
    try {
        be->open("missing");
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(std::string(e.what()).find("database \"missing\" does not exist") != std::string::npos);
        CHECK_FALSE(e.is_retryable());
    }
    CHECK_FALSE(fs::exists(dir.path() / "missing.sqlite"));  // open did not create it

    auto mem = open_backend("sqlite://:memory:");
    mem->create("m");
    CHECK_THROWS_AS(mem->create("m"), programming_error);
    CHECK_THROWS_AS(mem->drop("nope"), programming_error);
}

TEST_CASE("sqlite: drop with a connection in use fails clearly") {
    for (const bool memory : {false, true}) {
        CAPTURE(memory);
        scratch_dir dir;
        auto be = open_backend(memory ? std::string("sqlite://:memory:")
                                      : "sqlite://" + dir.path().string());
        be->create("busy");
        auto db = be->open("busy");
        auto c = db->acquire();
        try {
            be->drop("busy");
            FAIL("no error");
        } catch (const operational_error& e) {
            CHECK(std::string(e.what()).find("1 connection(s) still in use") != std::string::npos);
            CHECK(e.category() == error_category::other);  // not retryable
        }
        CHECK(be->exists("busy"));
        CHECK(c->execute("SELECT 1").size() == 1);  // still usable
        c.return_to_pool();
        be->drop("busy");
        CHECK_FALSE(be->exists("busy"));
        // The old handle cannot hand out connections any more.
        CHECK_THROWS_AS(db->acquire(), operational_error);
        CHECK(db->idle() == 0);
    }
}

TEST_CASE("sqlite: open_backend parses URIs and refuses unknown ones clearly") {
    scratch_dir dir;
    {
        auto be = open_backend("sqlite://" + dir.path().string() + "?busy_wait_ms=1234");
        auto& sb = dynamic_cast<sqlite_backend&>(*be);
        CHECK(sb.directory() == dir.path());
        CHECK(sb.busy_wait() == 1234ms);
        CHECK_FALSE(sb.is_in_memory());
    }
    {
        auto be = open_backend("SQLite://" + dir.path().string());
        CHECK(dynamic_cast<sqlite_backend&>(*be).busy_wait() == 5000ms);  // the default
    }
    {
        // A relative directory is taken from the working directory, and kept absolute.
        const fs::path rel = fs::relative(dir.path() / "rel", fs::current_path());
        REQUIRE(rel.is_relative());
        auto be = open_backend("sqlite://" + rel.string());
        CHECK(dynamic_cast<sqlite_backend&>(*be).directory() == dir.path() / "rel");
        CHECK(fs::is_directory(dir.path() / "rel"));
    }
    {
        // Percent-escapes in the path.
        auto be = open_backend("sqlite://" + dir.path().string() + "/with%20space");
        CHECK(fs::is_directory(dir.path() / "with space"));
    }
    CHECK(dynamic_cast<sqlite_backend&>(*open_backend("sqlite://:memory:?busy_wait_ms=7"))
              .busy_wait() == 7ms);

    auto message_of = [](const std::string& uri) {
        try {
            open_backend(uri);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no std::invalid_argument");
    };
    // PostgreSQL URIs name the server only; the error never shows the password.
    CHECK(message_of("postgresql://user:secret@localhost/db").find("names a database") !=
          std::string::npos);
    CHECK(message_of("postgresql://user:secret@localhost/db").find("secret") == std::string::npos);
    CHECK(message_of("mysql://localhost/db").find("unknown database URI scheme \"mysql\"") !=
          std::string::npos);
    CHECK(message_of("/just/a/path").find("no scheme") != std::string::npos);
    CHECK(message_of("sqlite://").find("names no directory") != std::string::npos);
    CHECK(message_of("sqlite://" + dir.path().string() + "?busy_wait_ms=abc").find("busy_wait_ms") !=
          std::string::npos);
    CHECK(message_of("sqlite://" + dir.path().string() + "?busy_wait_ms=-1").find("busy_wait_ms") !=
          std::string::npos);
    CHECK(message_of("sqlite://" + dir.path().string() + "?cache=big").find("unknown parameter \"cache\"") !=
          std::string::npos);
    CHECK(message_of("sqlite://" + dir.path().string() + "/bad%2").find("percent-escape") !=
          std::string::npos);
}

}  // TEST_SUITE
