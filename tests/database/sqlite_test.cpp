// The SQLite backend against real SQLite files in a temporary directory
// (tests/support/temp_dir.hpp): what only SQLite does or says about statements
// and errors. Transactions and the pool: sqlite_transaction_test.cpp; backends:
// sqlite_backend_test.cpp. What every backend shares: conformance_test.cpp.

#include "tests/database/sqlite_test_support.hpp"

#include <doctest/doctest.h>

using namespace atrium::db;
using namespace atrium::test::sqlite_support;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

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

}  // TEST_SUITE
