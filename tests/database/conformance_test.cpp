// The database interface (database/database.hpp) as every backend must
// implement it: run against SQLite and PostgreSQL (tests/support/test_database.hpp).
// Backend details (SQLite's busy handling, pragmas, statement cache; libpqxx,
// SQLSTATE mapping, connection loss) stay in sqlite_test.cpp / postgresql_*_test.cpp.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "tests/support/test_database.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace atrium::db;
using atrium::test::backend_kind;
using atrium::test::dialect;
using atrium::test::scratch_backend;
using atrium::test::test_database;

namespace {

// The fixture's database plus a table t (id, name UNIQUE, n).
struct table_db : test_database {
    table_db() {
        execute("CREATE TABLE t (" + std::string(dialect().serial_id) + ", name TEXT UNIQUE, n " +
                std::string(dialect().integer) + ")");
    }
    static std::int64_t count(connection& c) {
        return std::get<std::int64_t>(c.execute("SELECT count(*) FROM t").rows.at(0).at(0));
    }
    std::int64_t committed_count() {
        auto c = db->acquire();
        return count(*c);
    }
};

/// The error codes each backend reports (SQLite's extended result code names, SQLSTATEs).
struct error_codes {
    const char* unique_violation;
    const char* foreign_key_violation;
    const char* syntax_error;
    const char* read_only_write;
};
const error_codes& codes() {
    static const error_codes sqlite{"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_FOREIGNKEY", "SQLITE_ERROR",
                                    "SQLITE_READONLY"};
    static const error_codes postgresql{"23505", "23503", "42601", "25006"};
    return atrium::test::test_backend() == backend_kind::sqlite ? sqlite : postgresql;
}

begin_options read_only() {
    begin_options o;
    o.readonly = true;
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

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

// ---------------------------------------------------------------------------
// Statements, parameters, results

TEST_CASE("database: bound parameters of every type round-trip") {
    test_database f;
    const auto& d = dialect();
    f.execute("CREATE TABLE v (k " + std::string(d.integer) + ", i " + std::string(d.integer) + ", r " +
              std::string(d.real) + ", s TEXT, b " + std::string(d.blob) + ")");
    auto c = f.db->acquire();

    const std::string quotes = "O'Brien said \"hi\"; DROP TABLE v; -- ? $1 \\";
    const std::string unicode = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac";
    const blob bytes{{0x00, 0x01, 0x00, 0xff, 0x27, 0x5c, 0x00}};
    // One column per type; each row binds one value (k = its index).
    struct sample {
        const char* column;
        value v;
    };
    const std::vector<sample> samples = {
        {"i", value{nullptr}},
        {"i", value{std::int64_t{0}}},
        {"i", value{std::numeric_limits<std::int64_t>::max()}},
        {"i", value{std::numeric_limits<std::int64_t>::min()}},
        {"i", value{std::int64_t{-42}}},
        {"r", value{3.25}},
        {"r", value{-1e300}},
        {"r", value{0.1}},
        {"s", value{std::string{}}},
        {"s", value{quotes}},
        {"s", value{unicode}},
        {"b", value{bytes}},
        {"b", value{blob{}}},
        {"s", value{nullptr}},
        {"b", value{nullptr}},
    };
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto r = c->execute(std::string("INSERT INTO v (k, ") + samples[i].column + ") VALUES (?, ?)",
                                  {value{static_cast<std::int64_t>(i)}, samples[i].v});
        CHECK(r.affected_rows == 1);
    }
    // The quotes did not reach the SQL: the table is still there, one row per value.
    const auto all = c->execute("SELECT k, i, r, s, b FROM v ORDER BY k");
    REQUIRE(all.size() == samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        CAPTURE(i);
        const std::string column = samples[i].column;
        const std::size_t index = column == "i" ? 1 : column == "r" ? 2 : column == "s" ? 3 : 4;
        CHECK(all.rows[i][0] == value{static_cast<std::int64_t>(i)});
        CHECK(all.rows[i][index] == samples[i].v);
        for (std::size_t other = 1; other <= 4; ++other) {
            if (other != index) CHECK(is_null(all.rows[i][other]));
        }
    }
    CHECK(std::get<blob>(all.rows[12][4]).bytes.empty());  // an empty blob is not NULL

    // Parameters compare as values, not as SQL text.
    const auto found = c->execute("SELECT k FROM v WHERE s = ?", {value{quotes}});
    REQUIRE(found.size() == 1);
    CHECK(std::get<std::int64_t>(found.rows[0][0]) == 9);
    const auto by_blob = c->execute("SELECT k FROM v WHERE b = ?", {value{bytes}});
    REQUIRE(by_blob.size() == 1);
    CHECK(std::get<std::int64_t>(by_blob.rows[0][0]) == 11);
    const auto by_int = c->execute("SELECT k FROM v WHERE i = ?", {value{std::numeric_limits<std::int64_t>::min()}});
    REQUIRE(by_int.size() == 1);
    CHECK(std::get<std::int64_t>(by_int.rows[0][0]) == 3);
    // A parameter used as a value in an expression keeps its type.
    const auto expr = c->execute("SELECT ? + 1, ? || 'x'", {value{std::int64_t{41}}, value{std::string("y")}});
    CHECK(expr.rows.at(0).at(0) == value{std::int64_t{42}});
    CHECK(expr.rows.at(0).at(1) == value{std::string("yx")});
}

TEST_CASE("database: results carry column names and affected rows") {
    table_db f;
    auto c = f.db->acquire();
    CHECK(c->execute("INSERT INTO t (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)").affected_rows == 3);
    const auto upd = c->execute("UPDATE t SET n = n + 1 WHERE n >= ?", {value{std::int64_t{2}}});
    CHECK(upd.affected_rows == 2);
    CHECK(upd.columns.empty());
    // A statement that changes nothing reports 0, not the previous statement's count.
    const auto sel = c->execute("SELECT name AS label, n FROM t WHERE n > ? ORDER BY n", {value{std::int64_t{100}}});
    CHECK(sel.affected_rows == 0);
    CHECK(sel.columns == std::vector<std::string>{"label", "n"});
    CHECK(sel.empty());
    const auto rows = c->execute("SELECT name, n FROM t ORDER BY name");
    CHECK(rows.affected_rows == 0);  // reads report no affected rows
    REQUIRE(rows.size() == 3);
    CHECK(rows.rows[2] == row{value{std::string("c")}, value{std::int64_t{4}}});
    CHECK(c->execute("UPDATE t SET n = 0 WHERE 1 = 0").affected_rows == 0);
    CHECK(c->execute("CREATE TABLE other (x INTEGER)").affected_rows == 0);
    CHECK(c->execute("DELETE FROM t").affected_rows == 3);
}

TEST_CASE("database: a wrong number of parameters is a programming error") {
    test_database f;
    auto c = f.db->acquire();
    const auto e = catch_database_error([&] { c->execute("SELECT ?, ?", {value{std::int64_t{1}}}); });
    CHECK(e.category() == error_category::programming);
    CHECK(e.query() == "SELECT ?, ?");
    CHECK_THROWS_AS(c->execute("SELECT 1", {value{std::int64_t{1}}}), programming_error);
    CHECK(c->execute("SELECT ?", {value{std::int64_t{1}}}).size() == 1);  // the connection is fine
}

TEST_CASE("database: execute runs exactly one statement") {
    table_db f;
    auto c = f.db->acquire();
    CHECK_THROWS_AS(c->execute("INSERT INTO t (name) VALUES ('x'); DELETE FROM t"), programming_error);
    CHECK_THROWS_AS(c->execute("SELECT 1; this is not SQL"), programming_error);
    CHECK(f.count(*c) == 0);
    // Trailing semicolons, blanks and comments are fine.
    CHECK(c->execute("SELECT 1;  -- done\n").size() == 1);
}

TEST_CASE("database: statements outside begin() commit one by one") {
    table_db f;
    auto a = f.db->acquire();
    CHECK_FALSE(a->in_transaction());
    a->execute("INSERT INTO t (name) VALUES ('autocommitted')");
    CHECK_FALSE(a->in_transaction());
    CHECK(f.committed_count() == 1);
}

// ---------------------------------------------------------------------------
// Errors

TEST_CASE("database: a unique violation is an integrity_error") {
    table_db f;
    auto c = f.db->acquire();
    c->execute("INSERT INTO t (name) VALUES (?)", {value{std::string("dup")}});
    try {
        c->execute("INSERT INTO t (name) VALUES (?)", {value{std::string("dup")}});
        FAIL("no error");
    } catch (const integrity_error& e) {
        CHECK(e.category() == error_category::integrity);
        CHECK_FALSE(e.is_retryable());
        CHECK(e.code() == codes().unique_violation);
        CHECK(e.query() == "INSERT INTO t (name) VALUES (?)");
    }
    CHECK(f.count(*c) == 1);
}

TEST_CASE("database: foreign keys are enforced (integrity_error)") {
    table_db f;
    f.execute("CREATE TABLE child (" + std::string(dialect().serial_id) + ", t_id " + std::string(dialect().integer) +
              " REFERENCES t(id))");
    auto c = f.db->acquire();
    const auto e = catch_database_error(
        [&] { c->execute("INSERT INTO child (t_id) VALUES (?)", {value{std::int64_t{42}}}); });
    CHECK(e.category() == error_category::integrity);
    CHECK(e.code() == codes().foreign_key_violation);
}

TEST_CASE("database: a syntax error or a missing table is a programming_error") {
    table_db f;
    auto c = f.db->acquire();
    const auto syntax = catch_database_error([&] { c->execute("SELEC 1"); });
    CHECK_THROWS_AS(c->execute("SELEC 1"), programming_error);
    CHECK(syntax.category() == error_category::programming);
    CHECK(syntax.code() == codes().syntax_error);
    CHECK(syntax.query() == "SELEC 1");

    const auto missing = catch_database_error([&] { c->execute("SELECT * FROM nowhere"); });
    CHECK(missing.category() == error_category::programming);
    CHECK(std::string(missing.what()).find("nowhere") != std::string::npos);
    // Double quotes are identifiers only: no silent fallback to a string.
    CHECK_THROWS_AS(c->execute("SELECT \"no_such_column\" FROM t"), programming_error);
}

TEST_CASE("database: a write in a read-only transaction is a programming_error that says so") {
    table_db f;
    auto c = f.db->acquire();
    c->begin(read_only());
    CHECK(c->readonly());
    CHECK(c->in_transaction());
    CHECK(f.count(*c) == 0);  // reading is fine
    try {
        c->execute("INSERT INTO t (name) VALUES ('x')");
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(e.category() == error_category::programming);
        CHECK(e.code() == codes().read_only_write);
        CHECK(std::string(e.what()).find("read-only transaction") != std::string::npos);
    }
    c->rollback();
    // The read-only setting ends with the transaction.
    CHECK_FALSE(c->readonly());
    c->begin({});
    CHECK_FALSE(c->readonly());
    c->execute("INSERT INTO t (name) VALUES ('x')");
    c->commit();
    CHECK(f.committed_count() == 1);
    // DDL is a write too; and a read-only transaction that only read commits.
    c->begin(read_only());
    CHECK_THROWS_AS(c->execute("CREATE TABLE nope (x INTEGER)"), programming_error);
    c->rollback();
    c->begin(read_only());
    CHECK(f.count(*c) == 1);
    c->commit();
    CHECK_FALSE(c->in_transaction());
}

// ---------------------------------------------------------------------------
// Transactions

TEST_CASE("database: commit makes changes visible to other connections, rollback discards them") {
    table_db f;
    auto a = f.db->acquire();
    auto b = f.db->acquire();
    a->begin({});
    CHECK(a->in_transaction());
    a->execute("INSERT INTO t (name) VALUES ('one')");
    CHECK(f.count(*a) == 1);
    CHECK(f.count(*b) == 0);  // not committed yet
    a->commit();
    CHECK_FALSE(a->in_transaction());
    CHECK(f.count(*b) == 1);

    a->begin({});
    a->execute("INSERT INTO t (name) VALUES ('two')");
    a->rollback();
    CHECK_FALSE(a->in_transaction());
    CHECK(f.count(*a) == 1);
    CHECK(f.count(*b) == 1);
}

TEST_CASE("database: a read-only transaction keeps its snapshot while a writer commits") {
    table_db f;
    auto reader = f.db->acquire();
    auto writer = f.db->acquire();
    reader->begin(read_only());
    CHECK(f.count(*reader) == 0);  // the snapshot starts here
    writer->begin({});
    writer->execute("INSERT INTO t (name) VALUES ('new')");
    writer->commit();
    CHECK(f.count(*reader) == 0);  // still the old snapshot
    reader->commit();
    reader->begin(read_only());
    CHECK(f.count(*reader) == 1);
    reader->rollback();
}

TEST_CASE("database: autocommit mode commits every statement") {
    table_db f;
    auto c = f.db->acquire();
    begin_options options;
    options.autocommit = true;
    c->begin(options);
    CHECK(c->in_transaction());
    c->execute("INSERT INTO t (name) VALUES ('a')");
    CHECK(f.committed_count() == 1);
    c->execute("INSERT INTO t (name) VALUES ('b')");
    CHECK(f.committed_count() == 2);
    c->rollback();  // nothing to undo
    CHECK(f.committed_count() == 2);
    CHECK_FALSE(c->in_transaction());
}

TEST_CASE("database: begin while a transaction is open is a programming error") {
    test_database f;
    auto c = f.db->acquire();
    c->begin({});
    const auto e = catch_database_error([&] { c->begin({}); });
    CHECK(e.category() == error_category::programming);
    CHECK(c->in_transaction());  // the open transaction is untouched
    c->rollback();
    c->begin({});
    c->commit();
}

TEST_CASE("database: savepoints roll back to and release") {
    table_db f;
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
    c->commit();
    CHECK(f.committed_count() == 2);

    // An unknown savepoint is a programming error.
    c->begin({});
    CHECK_THROWS_AS(c->rollback_to_savepoint("unknown"), programming_error);
    c->rollback();
    // Savepoints need a transaction.
    CHECK_THROWS_AS(c->savepoint("outside"), programming_error);
    CHECK_FALSE(c->in_transaction());
}

TEST_CASE("database: a failed statement inside a savepoint is undone by rolling back to it") {
    table_db f;
    auto c = f.db->acquire();
    c->begin({});
    c->execute("INSERT INTO t (name) VALUES ('kept')");
    c->savepoint("attempt");
    CHECK_THROWS_AS(c->execute("INSERT INTO t (name) VALUES ('kept')"), integrity_error);
    c->rollback_to_savepoint("attempt");
    c->execute("INSERT INTO t (name) VALUES ('instead')");
    c->release_savepoint("attempt");
    c->commit();
    CHECK(f.committed_count() == 2);
}

TEST_CASE("database: lock_table and lock_records validate the table name") {
    table_db f;
    auto c = f.db->acquire();
    c->begin({});
    c->lock_table("t");
    c->lock_records("t", {1, 2, 3});
    c->lock_records("t", {});
    CHECK_THROWS_AS(c->lock_table("t; DROP TABLE t"), programming_error);
    CHECK_THROWS_AS(c->lock_table("\"t\""), programming_error);
    CHECK_THROWS_AS(c->lock_table(""), programming_error);
    CHECK_THROWS_AS(c->lock_table("1t"), programming_error);
    CHECK_THROWS_AS(c->lock_records("a.b", {1}), programming_error);
    c->rollback();
    c->begin({});
    c->execute("INSERT INTO t (name) VALUES ('still there')");
    c->commit();
    CHECK(f.committed_count() == 1);
}

// ---------------------------------------------------------------------------
// The pool

TEST_CASE("database: the pool reuses idle connections, most recently released first") {
    test_database f;
    CHECK(f.db->in_use() == 0);
    const std::size_t idle_at_start = f.db->idle();
    auto a = f.db->acquire();
    auto b = f.db->acquire();
    CHECK(f.db->in_use() == 2);
    connection* pa = a.get();
    connection* pb = b.get();
    a.return_to_pool();
    b.return_to_pool();
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == std::max<std::size_t>(idle_at_start, 2));
    auto again = f.db->acquire();
    CHECK(again.get() == pb);  // LIFO
    auto next = f.db->acquire();
    CHECK(next.get() == pa);
    again.return_to_pool();
    next.return_to_pool();
}

TEST_CASE("database: release with close=true discards the connection, so does closing it") {
    test_database f;
    auto a = f.db->acquire();
    const std::size_t idle_before = f.db->idle();
    a.discard();
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == idle_before);

    auto b = f.db->acquire();
    b->close();
    CHECK_FALSE(b->is_open());
    CHECK_THROWS_AS(b->execute("SELECT 1"), database_error);
    b.return_to_pool();
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == idle_before);
}

TEST_CASE("database: a connection released mid-transaction is rolled back before reuse") {
    table_db f;
    auto c = f.db->acquire();
    connection* p = c.get();
    begin_options with_timeout;
    with_timeout.statement_timeout = std::chrono::milliseconds(50);
    c->begin(with_timeout);
    c->execute("INSERT INTO t (name) VALUES ('lost')");
    c.return_to_pool();
    CHECK(f.db->in_use() == 0);
    CHECK(f.committed_count() == 0);
    auto again = f.db->acquire();
    CHECK(again.get() == p);
    CHECK_FALSE(again->in_transaction());
    // Its locks were given back: another connection can write.
    {
        auto other = f.db->acquire();
        other->begin({});
        other->execute("INSERT INTO t (name) VALUES ('other')");
        other->commit();
    }
    // A read-only one comes back writable.
    again->begin(read_only());
    again.return_to_pool();
    auto reused = f.db->acquire();
    CHECK(&*reused == p);
    CHECK_FALSE(reused->readonly());
    reused->execute("INSERT INTO t (name) VALUES ('ok')");
    CHECK(f.committed_count() == 2);
}

TEST_CASE("database: a connection destroyed without release does not stay counted as in use") {
    test_database f;
    {
        auto c = f.db->acquire();
        CHECK(f.db->in_use() == 1);
    }
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("database: the pool can be shared by two threads") {
    // Default hooks (the calling thread sleeps or polls).
    scratch_backend be("", wait_hooks{});
    const auto name = be.unique_name();
    be->create(name);
    auto db = be->open(name);
    {
        auto c = db->acquire();
        c->execute("CREATE TABLE t (" + std::string(dialect().serial_id) + ", name TEXT)");
    }
    std::atomic<int> inserted{0};
    std::atomic<int> failures{0};
    auto work = [&](int thread) {
        for (int i = 0; i < 50; ++i) {
            try {
                auto c = db->acquire();
                c->begin({});  // on SQLite: waits for the other thread's commit
                c->execute("INSERT INTO t (name) VALUES (?)", {value{std::to_string(thread) + "-" + std::to_string(i)}});
                c->commit();
                ++inserted;
                c.return_to_pool();
            } catch (...) {
                ++failures;
            }
        }
    };
    std::thread t1([&] { work(1); });
    std::thread t2([&] { work(2); });
    t1.join();
    t2.join();
    CHECK(failures == 0);
    CHECK(inserted == 100);
    auto c = db->acquire();
    CHECK(std::get<std::int64_t>(c->execute("SELECT count(*) FROM t").rows.at(0).at(0)) == 100);
    CHECK(db->in_use() == 1);
    CHECK(db->idle() <= 1);
}

// ---------------------------------------------------------------------------
// Databases: create, drop, list, exists

TEST_CASE("database: create, exists, list and drop") {
    scratch_backend be;
    const auto beta = be.unique_name("beta");
    const auto alpha = be.unique_name("alpha");
    CHECK(be->name() == atrium::test::to_string(be.kind()));
    CHECK_FALSE(be->exists(beta));
    CHECK_FALSE(contains(be->list(), beta));

    be->create(beta);
    be->create(alpha);
    CHECK(be->exists(beta));
    CHECK(be->exists(alpha));
    {
        const auto names = be->list();
        CHECK(contains(names, beta));
        CHECK(contains(names, alpha));
        CHECK(std::is_sorted(names.begin(), names.end()));
    }
    {
        auto db = be->open(beta);
        CHECK(db->name() == beta);
        CHECK(db->backend_name() == be->name());
        auto c = db->acquire();
        c->execute("CREATE TABLE x (v INTEGER)");
        c->execute("INSERT INTO x VALUES (1)");
    }
    // A second backend object on the same directory or server sees the data.
    {
        auto be2 = be.open_again();
        CHECK(be2->exists(beta));
        auto c = be2->open(beta)->acquire();
        CHECK(c->execute("SELECT v FROM x").size() == 1);
    }
    be->drop(beta);
    CHECK_FALSE(be->exists(beta));
    CHECK_FALSE(contains(be->list(), beta));
    CHECK(contains(be->list(), alpha));
    // Created again, it is empty.
    be->create(beta);
    auto c = be->open(beta)->acquire();
    CHECK_THROWS_AS(c->execute("SELECT v FROM x"), programming_error);
}

TEST_CASE("database: create of an existing database and drop or open of a missing one fail clearly") {
    scratch_backend be;
    const auto name = be.unique_name("db");
    const auto missing = be.unique_name("missing");
    be->create(name);
    try {
        be->create(name);
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(std::string(e.what()).find("\"" + name + "\" already exists") != std::string::npos);
    }
    try {
        be->drop(missing);
        FAIL("no error");
    } catch (const programming_error& e) {
        CHECK(std::string(e.what()).find("\"" + missing + "\"") != std::string::npos);
        CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
    }
    try {
        be->open(missing);
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(std::string(e.what()).find("database \"" + missing + "\" does not exist") != std::string::npos);
        CHECK_FALSE(e.is_retryable());
    }
    CHECK_FALSE(be->exists(missing));  // open did not create it
}

TEST_CASE("database: drop with a connection in use fails clearly") {
    scratch_backend be;
    const auto name = be.unique_name("busy");
    be->create(name);
    auto db = be->open(name);
    auto c = db->acquire();
    try {
        be->drop(name);
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(std::string(e.what()).find("still in use") != std::string::npos);
        CHECK(e.category() == error_category::other);  // not retryable
    }
    CHECK(be->exists(name));
    CHECK(c->execute("SELECT 1").size() == 1);  // still usable
    c.return_to_pool();
    be->drop(name);
    CHECK_FALSE(be->exists(name));
    // The old handle cannot hand out connections any more.
    CHECK_THROWS_AS(db->acquire(), operational_error);
    CHECK(db->idle() == 0);
}

TEST_CASE("database: database names are validated") {
    scratch_backend be;
    for (const char* bad : {"../escape", "a/b", "a b", "a.b", "semi;colon", "quote'", "dq\"", "nul\n"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(be->create(bad), invalid_database_name);
        CHECK_THROWS_AS(be->open(bad), invalid_database_name);
        CHECK_THROWS_AS(be->exists(bad), invalid_database_name);
        CHECK_THROWS_AS(be->drop(bad), invalid_database_name);
    }
    CHECK_THROWS_AS(be->create(std::string(64, 'a')), invalid_database_name);
    // Backend-neutral: an operational error with SQLSTATE 3D000 on every backend.
    try {
        be->open("a.b");
        FAIL("open(\"a.b\") did not throw");
    } catch (const operational_error& error) {
        CHECK(error.code() == "3D000");
        CHECK(std::string(error.what()).find("a.b") != std::string::npos);
    }
    CHECK_THROWS_AS(be->create(""), invalid_database_name);
    CHECK_THROWS_AS(be->drop(""), invalid_database_name);
    // The longest name and every allowed character.
    const auto tag = be.unique_name("n");
    const std::string longest = tag + std::string(63 - tag.size(), 'x');
    const std::string mixed = be.unique_name("Ok-name_09");
    be->create(longest);
    be->create(mixed);
    CHECK(be->exists(longest));
    CHECK(be->exists(mixed));
    CHECK(contains(be->list(), mixed));
    be->drop(longest);
    be->drop(mixed);

    // The empty name is the maintenance database: it opens, runs SQL, is not listed.
    CHECK_FALSE(be->exists(""));
    auto maintenance = be->open("");
    CHECK(maintenance->name().empty());
    auto c = maintenance->acquire();
    CHECK(c->execute("SELECT 1").size() == 1);
    CHECK_FALSE(contains(be->list(), ""));
}
