// The PostgreSQL backend against a real, temporary PostgreSQL 15 cluster
// (tests/support/pg_cluster.hpp: the ctest fixture's cluster, ATRIUM_TEST_PG_DSN,
// or one this process starts). What every backend must do is in the
// conformance suite (conformance_test.cpp); this file holds what is specific
// to PostgreSQL: URIs, quoting, SQLSTATE classification, REPEATABLE READ,
// NOWAIT locks and the retry loop, lost connections, statement timeouts, the
// fiber-aware pool, database management and the fiber overlap test.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/postgresql/pg_backend.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "database/postgresql/pg_errors.hpp"
#include "database/postgresql/pg_sql.hpp"
#include "fiber/runtime.hpp"
#include "fiber/socket_watch.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/run_in_fiber.hpp"
#include "transaction/errors.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/retry.hpp"
#include "transaction/transaction.hpp"

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace atrium::db;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

namespace {

std::string dsn() { return atrium::test::pg_dsn(); }

// A fresh database on the test cluster (dropped at the end) holding
//   note    (id bigserial primary key, text text not null)
//   counter (id bigint primary key, n bigint not null) with the row (1, 0)
// `query` is appended to the DSN ("?pool_size=2").
struct pg_db {
    std::unique_ptr<backend> server;
    std::string name;
    std::shared_ptr<database> db;

    explicit pg_db(const std::string& query = "", wait_hooks hooks = atrium::fiber_wait_hooks()) {
        static std::atomic<int> counter{0};
        server = open_backend(dsn() + query, std::move(hooks));
        name = "pgtest_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
        if (server->exists(name)) server->drop(name);
        server->create(name);
        db = server->open(name);
        execute("CREATE TABLE note (id bigserial PRIMARY KEY, text text NOT NULL)");
        execute("CREATE TABLE counter (id bigint PRIMARY KEY, n bigint NOT NULL)");
        execute("INSERT INTO counter VALUES (1, 0), (2, 0)");
    }
    ~pg_db() {
        try {
            server->drop(name);
        } catch (const std::exception& e) {
            MESSAGE("could not drop " << name << ": " << e.what());
        }
    }
    pg_db(const pg_db&) = delete;
    pg_db& operator=(const pg_db&) = delete;

    pg_backend& pg() const { return dynamic_cast<pg_backend&>(*server); }

    // One statement in its own committed transaction.
    result execute(std::string_view sql, const std::vector<value>& params = {}) {
        auto conn = db->acquire();
        conn->begin({});
        auto out = conn->execute(sql, params);
        conn->commit();
        db->release(std::move(conn));
        return out;
    }
};

// A connection checked out of a database, given back at scope exit.
class lease {
public:
    explicit lease(std::shared_ptr<database> db) : db_(std::move(db)), conn_(db_->acquire()) {}
    ~lease() {
        if (conn_) db_->release(std::move(conn_));
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    pg_connection* operator->() const { return &pg(); }
    pg_connection& operator*() const { return pg(); }
    pg_connection& pg() const { return dynamic_cast<pg_connection&>(*conn_); }

private:
    std::shared_ptr<database> db_;
    std::unique_ptr<connection> conn_;
};

std::int64_t pid_of(connection& c) {
    return std::get<std::int64_t>(c.execute("SELECT pg_backend_pid()").rows.at(0).at(0));
}

std::string show(connection& c, const std::string& setting) {
    return std::get<std::string>(c.execute("SHOW " + setting).rows.at(0).at(0));
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

template <class E, class F>
bool throws_as(F&& f) {
    try {
        f();
    } catch (const E&) {
        return true;
    } catch (...) {
        return false;
    }
    return false;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The pg_stat_activity state of the server process `pid`, seen from `watcher`.
std::string activity_state(connection& watcher, std::int64_t pid) {
    return std::get<std::string>(
        watcher.execute("SELECT state FROM pg_stat_activity WHERE pid = ?", {value{pid}}).rows.at(0).at(0));
}

// Terminates a server process from a connection of the maintenance pool and
// waits until it has exited.
void terminate_backend(pg_db& f, std::int64_t pid) {
    lease killer(f.server->open(""));
    const auto r = killer->execute("SELECT pg_terminate_backend(?, 5000)", {pid});
    REQUIRE(std::get<std::int64_t>(r.rows.at(0).at(0)) == 1);
}

// Runs the bodies as fibers on one io_context (one thread) until all ended;
// rethrows the first failure.
void run_fibers(const std::vector<std::function<void()>>& bodies) {
    boost::asio::io_context io(1);
    std::exception_ptr first;
    int finished = 0;
    for (const auto& body : bodies) {
        atrium::fiber::spawn_fiber(io, body, [&](std::exception_ptr e) {
            ++finished;
            if (e && !first) first = e;
        });
    }
    io.run();
    if (first) std::rethrow_exception(first);
    REQUIRE(finished == static_cast<int>(bodies.size()));
}

}  // namespace

// ---------------------------------------------------------------------------
// URIs

TEST_CASE("postgresql: URI parameters configure the pool, unknown ones are refused without showing the password") {
    auto be = open_backend("postgresql://alice:s3cret@127.0.0.1:5999/?pool_size=3&pool_wait_ms=250&"
                           "idle_timeout_s=0.5&retry=2&sslmode=disable");
    auto& pg = dynamic_cast<pg_backend&>(*be);
    CHECK(pg.name() == "postgresql");
    CHECK(pg.settings().pool_size == 3);
    CHECK(pg.settings().pool_wait_ms == 250);
    CHECK(pg.settings().idle_timeout_ms == 500);
    CHECK(pg.settings().retry == 2);
    CHECK(pg.display_uri() == "postgresql://alice:***@127.0.0.1:5999/");

    // Defaults: pool of 10, wait retry x 1 s (SPEC §1.2), idle 1800 s.
    auto defaults = open_backend("postgres://localhost");
    auto& d = dynamic_cast<pg_backend&>(*defaults);
    CHECK(d.settings().pool_size == 10);
    CHECK(d.settings().pool_wait_ms == 5000);
    CHECK(d.settings().idle_timeout_ms == 1800 * 1000);
    CHECK(dynamic_cast<pg_backend&>(*open_backend("postgresql://h/?retry=3")).settings().pool_wait_ms == 3000);
    CHECK(dynamic_cast<pg_backend&>(*open_backend("postgresql://[::1]:5432/")).display_uri() ==
          "postgresql://[::1]:5432/");

    auto message_of = [](const std::string& uri) {
        try {
            open_backend(uri);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no std::invalid_argument");
    };
    const std::string unknown = message_of("postgresql://bob:hunter2@db:5432/?pool_size=2&cache=big");
    CHECK(contains(unknown, "unknown parameter \"cache\""));
    CHECK(!contains(unknown, "hunter2"));
    CHECK(contains(unknown, "bob:***@db:5432"));
    const std::string named = message_of("postgresql://bob:hunter2@db/production");
    CHECK(contains(named, "names a database"));
    CHECK(!contains(named, "hunter2"));
    CHECK(contains(message_of("postgresql://db/?pool_size=0"), "pool_size"));
    CHECK(contains(message_of("postgresql://db/?pool_size=x"), "pool_size"));
    CHECK(contains(message_of("postgresql://db:99999/"), "port"));
    CHECK(contains(message_of("postgresql://db/?idle_timeout_s=-1"), "idle_timeout_s"));
    CHECK(!contains(message_of("bob:hunter2@db"), "hunter2"));
    const std::string slash = message_of("postgresql://bob:hun/ter2@db/");  // '/' not percent-encoded
    CHECK(!contains(slash, "hun"));
    CHECK(!contains(slash, "ter2"));
    const std::string in_query = message_of("postgresql://db/?password=hunter2");
    CHECK(contains(in_query, "unknown parameter \"password\""));
    CHECK(!contains(in_query, "hunter2"));
}

TEST_CASE("postgresql: a wrong password or port is a clear connection error without the password") {
    auto be = open_backend("postgresql://nobody:topsecret@127.0.0.1:1/?connect_timeout=2");
    auto e = catch_database_error([&] { be->list(); });
    CHECK(e.is_retryable());  // a connection failure
    CHECK(e.code() == "08006");
    CHECK(contains(e.what(), "cannot connect to PostgreSQL database \"postgres\""));
    CHECK(!contains(e.what(), "topsecret"));
}

// ---------------------------------------------------------------------------
// Placeholders and quoting

TEST_CASE("postgresql: placeholders are found outside literals, identifiers, dollar quotes and comments") {
    auto lit = [](std::size_t i) { return "<" + std::to_string(i) + ">"; };
    CHECK(pg_expand_placeholders("SELECT ?, ?", 2, lit) == "SELECT <0>, <1>");
    CHECK(pg_expand_placeholders("SELECT '?', \"?\", ? -- ?\n", 1, lit) == "SELECT '?', \"?\", <0> -- ?\n");
    CHECK(pg_expand_placeholders("SELECT 'it''s ?', E'\\' ?', ?", 1, lit) == "SELECT 'it''s ?', E'\\' ?', <0>");
    CHECK(pg_expand_placeholders("SELECT $$ ? $$, $tag$ $$ ? $tag$, ?", 1, lit) ==
          "SELECT $$ ? $$, $tag$ $$ ? $tag$, <0>");
    CHECK(pg_expand_placeholders("SELECT /* ? /* nested ? */ ? */ ?", 1, lit) ==
          "SELECT /* ? /* nested ? */ ? */ <0>");
    // $n style: '?' is left alone (jsonb operators), $n may repeat.
    CHECK(pg_expand_placeholders("SELECT $2, $1, $2, '{}'::jsonb ? 'a'", 2, lit) ==
          "SELECT <1>, <0>, <1>, '{}'::jsonb ? 'a'");
    CHECK(pg_expand_placeholders("SELECT a$1 FROM t", 0, lit) == "SELECT a$1 FROM t");
    // No parameters: the text is sent as written.
    CHECK(pg_expand_placeholders("SELECT '{}'::jsonb ? 'a'", 0, lit) == "SELECT '{}'::jsonb ? 'a'");
    // Tokens stay apart.
    CHECK(pg_expand_placeholders("SELECT 1 LIMIT?", 1, lit) == "SELECT 1 LIMIT <0>");
    CHECK(pg_expand_placeholders("SELECT 5-?", 1, lit) == "SELECT 5- <0>");
    // A trailing ';' is fine, a second statement is not.
    CHECK(pg_expand_placeholders("SELECT ?; -- done", 1, lit) == "SELECT <0>; -- done");

    auto error_of = [&](std::string_view sql, std::size_t count) {
        try {
            pg_expand_placeholders(sql, count, lit);
        } catch (const programming_error& e) {
            CHECK(e.query() == sql);
            return e.code();
        }
        return std::string("none");
    };
    CHECK(error_of("SELECT ?, ?", 1) == "42P02");
    CHECK(error_of("SELECT ?", 2) == "42P02");
    CHECK(error_of("SELECT $1, $3", 3) == "42P02");  // $2 unused
    CHECK(error_of("SELECT $2", 1) == "42P02");
    CHECK(error_of("SELECT $1", 0) == "42P02");
    CHECK(error_of("SELECT 1; SELECT 2", 0) == "42601");

    CHECK(pg_leading_keywords("  /* c */ -- x\n rollback to savepoint s", 3) ==
          std::vector<std::string>{"ROLLBACK", "TO", "SAVEPOINT"});
}

TEST_CASE("postgresql: values round-trip through libpqxx quoting") {
    pg_db f;
    f.execute("CREATE TABLE v (k int PRIMARY KEY, i bigint, r float8, s text, b bytea)");
    lease c(f.db);
    c->begin({});

    const std::string nasty = "O'Brien said \"hi\"; DROP TABLE v; -- ? $1 \\ \\' ''";
    const std::string unicode = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad";
    const blob bytes{{0x00, 0x01, 0x00, 0xff, 0x27, 0x5c, 0x00, 0x22}};
    const std::vector<value> samples = {
        value{nullptr},
        value{std::int64_t{0}},
        value{std::numeric_limits<std::int64_t>::max()},
        value{std::numeric_limits<std::int64_t>::min()},
        value{std::int64_t{-42}},
        value{0.1},
        value{-1.0e-300},
        value{std::numeric_limits<double>::max()},
        value{std::numeric_limits<double>::infinity()},
        value{std::string()},
        value{nasty},
        value{unicode},
        value{blob{}},
        value{bytes},
    };
    for (std::size_t k = 0; k < samples.size(); ++k) {
        const value& v = samples[k];
        const char* column = std::holds_alternative<std::int64_t>(v)  ? "i"
                             : std::holds_alternative<double>(v)      ? "r"
                             : std::holds_alternative<std::string>(v) ? "s"
                             : std::holds_alternative<blob>(v)        ? "b"
                                                                      : "i";
        CAPTURE(k);
        c->execute(std::string("INSERT INTO v (k, ") + column + ") VALUES (?, ?)",
                   {static_cast<std::int64_t>(k), v});
        const auto back = c->execute(std::string("SELECT ") + column + " FROM v WHERE k = ?",
                                     {static_cast<std::int64_t>(k)});
        REQUIRE(back.size() == 1);
        CHECK(back.rows[0][0] == v);
        // The same value straight back from SELECT ?.
        if (!is_null(v)) CHECK(c->execute("SELECT ?", {v}).rows.at(0).at(0) == v);
    }
    // NaN is not equal to itself: checked apart.
    const auto nan = c->execute("SELECT ?", {std::numeric_limits<double>::quiet_NaN()});
    CHECK(std::isnan(std::get<double>(nan.rows.at(0).at(0))));

    // '?' inside a literal is not a placeholder; $n style works too.
    const auto q = c->execute("SELECT '?' AS q, ? AS p, '$1' AS d", {std::string("x")});
    CHECK(q.columns == std::vector<std::string>{"q", "p", "d"});
    CHECK(q.rows.at(0) == row{std::string("?"), std::string("x"), std::string("$1")});
    const auto d = c->execute("SELECT $2::text || $1::text, $1", {std::string("a"), std::string("b")});
    CHECK(d.rows.at(0) == row{std::string("ba"), std::string("a")});
    // A negative number after a minus sign is not a comment.
    CHECK(c->execute("SELECT 5 -?", {std::int64_t{-3}}).rows.at(0).at(0) == value{std::int64_t{8}});

    // Typed results: numeric stays exact text, bool is 0/1, int2/int4 are int64.
    const auto t = c->execute(
        "SELECT 1.50::numeric, true, false, 7::int2, 8::int4, 2.5::float4, now()::date IS NOT NULL, "
        "'x'::varchar, NULL::text");
    CHECK(t.rows.at(0) == row{std::string("1.50"), std::int64_t{1}, std::int64_t{0}, std::int64_t{7},
                              std::int64_t{8}, 2.5, std::int64_t{1}, std::string("x"), nullptr});

    // Text with a NUL byte cannot be PostgreSQL text: refused before sending.
    auto nul = catch_database_error([&] { c->execute("SELECT ?", {std::string("a\0b", 3)}); });
    CHECK(nul.category() == error_category::programming);
    CHECK(nul.code() == "22021");
    // Placeholder count mismatch.
    auto mismatch = catch_database_error([&] { c->execute("SELECT ?, ?", {std::int64_t{1}}); });
    CHECK(mismatch.category() == error_category::programming);
    CHECK(mismatch.code() == "42P02");
    c->commit();

    // affected_rows: what changed; reads report 0 as on SQLite.
    c->begin({});
    CHECK(c->execute("UPDATE counter SET n = n + 1").affected_rows == 2);
    CHECK(c->execute("SELECT * FROM counter").affected_rows == 0);
    CHECK(c->execute("INSERT INTO note (text) VALUES ('a'), ('b') RETURNING id").affected_rows == 2);
    c->rollback();
}

// ---------------------------------------------------------------------------
// Error classification

TEST_CASE("postgresql: every error carries a SQLSTATE and its category") {
    pg_db f;
    lease c(f.db);
    struct expectation {
        const char* sql;
        const char* code;
        error_category category;
    };
    // RAISE with an ERRCODE reaches libpqxx 6.4 as the class it would build for
    // a real error of that SQLSTATE (some of them without a SQLSTATE).
    auto raise = [](const char* code) {
        return std::string("DO $$BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '") + code + "'; END$$";
    };
    const std::vector<expectation> cases = {
        {"SELEC 1", "42601", error_category::programming},
        {"SELECT * FROM missing_table", "42P01", error_category::programming},
        {"SELECT missing_column FROM note", "42703", error_category::programming},
        {"INSERT INTO counter VALUES (1, 0)", "23505", error_category::integrity},
        {"INSERT INTO note (text) VALUES (NULL)", "23502", error_category::integrity},
        {"SELECT 1/0", "22012", error_category::programming},
    };
    for (const auto& x : cases) {
        CAPTURE(x.sql);
        auto e = catch_database_error([&] { c->execute(x.sql); });
        CHECK(e.code() == x.code);
        CHECK(e.category() == x.category);
        CHECK(e.query() == x.sql);
        CHECK(contains(e.what(), std::string("[SQLSTATE ") + x.code + "]"));
    }
    const std::vector<expectation> raised = {
        {"42501", "42501", error_category::programming},  // insufficient_privilege: 6.4 drops it
        {"40001", "40001", error_category::retryable},    // serialization_failure: no sqlstate in 6.4
        {"40P01", "40P01", error_category::retryable},    // deadlock_detected
        {"40003", "40003", error_category::in_doubt},     // statement_completion_unknown
        {"40000", "40000", error_category::other},        // transaction_rollback
        {"55P03", "55P03", error_category::retryable},    // lock not available
        {"57014", "57014", error_category::timeout},
        {"23503", "23503", error_category::integrity},
        {"23514", "23514", error_category::integrity},
        {"25006", "25006", error_category::programming},
        {"53100", "53100", error_category::unavailable},  // disk_full: 503, not an internal error
    };
    for (const auto& x : raised) {
        CAPTURE(x.code);
        const std::string sql = raise(x.sql);
        try {
            c->execute(sql);
            FAIL("no error");
        } catch (const timeout_error& e) {
            CHECK(x.category == error_category::timeout);
            CHECK(e.code() == x.code);
        } catch (const in_doubt_error& e) {
            CHECK(x.category == error_category::in_doubt);
            CHECK(e.code() == x.code);
        } catch (const integrity_error& e) {
            CHECK(x.category == error_category::integrity);
            CHECK(e.code() == x.code);
        } catch (const programming_error& e) {
            CHECK(x.category == error_category::programming);
            CHECK(e.code() == x.code);
        } catch (const operational_error& e) {
            CHECK(e.category() == x.category);
            CHECK(e.code() == x.code);
        }
    }
    CHECK(!c->broken());
    CHECK(pid_of(*c) > 0);  // still usable after all of them

    CHECK(pg_category("08001") == error_category::retryable);
    CHECK(pg_category("57P01") == error_category::retryable);
    CHECK(pg_category("08007") == error_category::in_doubt);
    CHECK(pg_category("25P02") == error_category::programming);
    CHECK(pg_category("XX000") == error_category::other);
    CHECK(pg_category("53100") == error_category::unavailable);  // disk full
    CHECK(pg_category("53200") == error_category::unavailable);  // out of memory
    CHECK(pg_category("53300") == error_category::unavailable);  // too many connections
}

TEST_CASE("postgresql: an error aborts the transaction; commit then fails with that error's class") {
    pg_db f;
    lease c(f.db);
    c->begin({});
    c->execute("INSERT INTO note (text) VALUES ('kept?')");
    CHECK(throws_as<integrity_error>([&] { c->execute("INSERT INTO counter VALUES (1, 0)"); }));
    auto aborted = catch_database_error([&] { c->execute("SELECT 1"); });
    CHECK(aborted.code() == "25P02");
    CHECK(contains(aborted.what(), "aborted by an earlier error"));
    // A swallowed error never passes for a commit.
    auto e = catch_database_error([&] { c->commit(); });
    CHECK(e.category() == error_category::integrity);
    CHECK(e.code() == "23505");
    CHECK(contains(e.what(), "COMMIT impossible"));
    CHECK(!c->in_transaction());
    CHECK(f.execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});

    // A savepoint rolled back to clears the error.
    c->begin({});
    c->execute("INSERT INTO note (text) VALUES ('kept')");
    c->savepoint("sp");
    CHECK(throws_as<integrity_error>([&] { c->execute("INSERT INTO counter VALUES (1, 0)"); }));
    c->rollback_to_savepoint("sp");
    c->release_savepoint("sp");
    c->commit();
    CHECK(f.execute("SELECT text FROM note").rows.at(0).at(0) == value{std::string("kept")});

    // Savepoints need a transaction.
    begin_options autocommit;
    autocommit.autocommit = true;
    c->begin(autocommit);
    CHECK(catch_database_error([&] { c->savepoint("x"); }).code() == "25P01");
    c->commit();
}

// ---------------------------------------------------------------------------
// Transactions

TEST_CASE("postgresql: transactions are REPEATABLE READ by default; read-only ones refuse writes") {
    pg_db f;
    lease c(f.db);
    c->begin({});
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "off");
    // The snapshot holds: a commit by another connection is not seen.
    CHECK(c->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
    f.execute("UPDATE counter SET n = 5 WHERE id = 1");
    CHECK(c->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
    c->commit();

    begin_options ro;
    ro.readonly = true;
    c->begin(ro);
    CHECK(c->readonly());
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "on");
    auto e = catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); });
    CHECK(e.code() == "25006");
    CHECK(e.category() == error_category::programming);
    c->rollback();
    CHECK(!c->readonly());

    // Through the transaction layer too.
    {
        auto scope = atrium::begin(f.db, 0, {.readonly = true});
        CHECK(show(scope->connection(), "transaction_read_only") == "on");
        CHECK(throws_as<programming_error>(
            [&] { scope->connection().execute("UPDATE counter SET n = 0"); }));
        scope.close(false);
    }
    auto again = atrium::begin(f.db, 0);
    CHECK(show(again->connection(), "transaction_read_only") == "off");
    again.close(false);
}

TEST_CASE("postgresql: BEGIN reaches the server with the first statement; a transaction without one sends nothing") {
    pg_db f("?pool_size=1");
    lease c(f.db);
    const auto pid = c->backend_pid();
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    lease watcher(db2);
    auto state_of_c = [&] { return activity_state(*watcher, pid); };
    c->begin({});
    CHECK(c->in_transaction());
    CHECK(state_of_c() == "idle");  // nothing sent yet
    c->execute("INSERT INTO note (text) VALUES ('one')");
    CHECK(state_of_c() == "idle in transaction");
    // Still REPEATABLE READ (the session default) and read-write.
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    c->rollback();
    CHECK(c->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});

    begin_options ro;
    ro.readonly = true;
    c->begin(ro);
    c->commit();  // no statement: nothing to send
    CHECK(state_of_c() == "idle");
    c->begin(ro);
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "on");
    const auto e = catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); });
    CHECK(e.code() == "25006");
    c->rollback();
    CHECK(state_of_c() == "idle");
}

namespace {

// Thread-blocking waits that count themselves: with small replies (one
// segment each) every wait is one round trip.
wait_hooks counting_waits(std::atomic<int>& waits) {
    wait_hooks hooks;
    hooks.wait_readable = [&waits](int fd) {
        ++waits;
        pollfd entry{fd, POLLIN, 0};
        while (::poll(&entry, 1, -1) < 0) {
        }
    };
    return hooks;
}

}  // namespace

TEST_CASE("postgresql: the COMMIT of a read-only transaction of plain reads is not waited for; the next one starts afresh") {
    // Every wait for the server is one round trip here (small replies come in
    // one segment), so the waits count the round trips.
    std::atomic<int> waits{0};
    const wait_hooks hooks = counting_waits(waits);
    pg_db f("?pool_size=1", hooks);
    lease c(f.db);
    const auto pid = c->backend_pid();
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    lease other(db2);
    auto state_of_c = [&] {
        // The COMMIT was sent when commit() returned; the server may take a moment.
        std::string state;
        for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) {
            std::this_thread::sleep_for(5ms);
        }
        return state;
    };
    auto count_notes = [&] { return c->execute("SELECT count(*) FROM note").rows.at(0).at(0); };
    begin_options ro;
    ro.readonly = true;

    // A write transaction waits for its COMMIT: BEGIN + INSERT, then COMMIT.
    waits = 0;
    c->begin({});
    c->execute("INSERT INTO note (text) VALUES ('one')");
    c->commit();
    CHECK(waits == 2);

    // A read-only one: BEGIN READ ONLY + SELECT. The COMMIT is not even sent
    // yet on a pooled connection: it rides with the next round trip, or goes
    // when the pool takes the connection back.
    waits = 0;
    c->begin(ro);
    CHECK(count_notes() == value{std::int64_t{1}});
    c->commit();
    CHECK(waits == 1);
    CHECK(!c->in_transaction());
    CHECK(c->has_unsent_commit());

    // Another connection commits a row; the next transaction on c has a new
    // snapshot (REPEATABLE READ would hide the row from the old one), in one
    // round trip: COMMIT; BEGIN READ ONLY; SELECT.
    other->begin({});
    other->execute("INSERT INTO note (text) VALUES ('two')");
    other->commit();
    waits = 0;
    c->begin(ro);
    CHECK(count_notes() == value{std::int64_t{2}});
    CHECK(waits == 1);
    CHECK_FALSE(c->has_unsent_commit());
    c->commit();
    c->send_unsent_commit();  // what the pool does before a connection goes idle: no wait
    CHECK(waits == 1);
    CHECK_FALSE(c->has_unsent_commit());
    CHECK(state_of_c() == "idle");  // the server ended the transaction
    CHECK(c->looks_alive());  // takes the COMMIT's reply in; the connection stays usable
    c->begin({});
    CHECK(count_notes() == value{std::int64_t{2}});
    c->execute("INSERT INTO note (text) VALUES ('three')");
    c->commit();
    CHECK(other->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{3}});

    // A notification is delivered (and may fail) at COMMIT: that COMMIT is
    // waited for even in a read-only transaction.
    waits = 0;
    c->begin(ro);
    c->execute("SELECT pg_notify('atrium_test', 'x')");
    c->commit();
    CHECK(waits == 2);

    // A read-only transaction whose statement failed still rolls back and
    // reports the error at commit().
    c->begin(ro);
    CHECK(catch_database_error([&] { c->execute("SELECT * FROM no_such_table"); }).code() == "42P01");
    CHECK(catch_database_error([&] { c->commit(); }).code() == "42P01");
    CHECK(state_of_c() == "idle");
}

TEST_CASE("postgresql: autocommit mode commits every statement and its settings end with it") {
    pg_db f("?pool_size=1");
    lease c(f.db);
    const auto pid = pid_of(*c);
    begin_options ac;
    ac.autocommit = true;
    ac.readonly = false;
    c->begin(ac);
    CHECK(c->in_transaction());
    c->execute("INSERT INTO note (text) VALUES ('at once')");
    {
        // Another connection sees it before commit().
        auto be2 = open_backend(dsn());
        auto db2 = be2->open(f.name);
        lease o(db2);
        CHECK(o->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{1}});
    }
    CHECK(show(*c, "transaction_isolation") == "read committed");  // no BEGIN: the server default
    c->commit();
    CHECK(!c->in_transaction());

    // Read-only + timeout in autocommit: session settings, reset at the end.
    ac.readonly = true;
    ac.statement_timeout = 60ms;
    c->begin(ac);
    CHECK(show(*c, "default_transaction_read_only") == "on");
    CHECK(show(*c, "statement_timeout") == "60ms");
    CHECK(catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); }).code() ==
          "25006");
    auto t = catch_database_error([&] { c->execute("SELECT pg_sleep(1)"); });
    CHECK(t.code() == "57014");
    CHECK(c->execute("SELECT 1").size() == 1);  // no aborted block in autocommit
    c->rollback();
    CHECK(pid_of(*c) == pid);
    CHECK(show(*c, "default_transaction_read_only") == "off");
    CHECK(show(*c, "statement_timeout") == "0");
}

TEST_CASE("postgresql: statement timeout is a timeout_error and never leaks to the next user") {
    pg_db f("?pool_size=1");  // one connection: every transaction gets the same one
    std::int64_t pid = 0;
    {
        auto scope = atrium::begin(f.db, 0, {.timeout = 0.05});
        pid = pid_of(scope->connection());
        CHECK(show(scope->connection(), "statement_timeout") == "50ms");
        try {
            scope->connection().execute("SELECT pg_sleep(2)");
            FAIL("no timeout");
        } catch (const timeout_error& e) {
            CHECK(e.code() == "57014");
            CHECK(e.category() == error_category::timeout);
            CHECK(!e.is_retryable());
            CHECK(e.query() == "SELECT pg_sleep(2)");
        }
        scope.close(false);
    }
    {
        auto scope = atrium::begin(f.db, 0);
        CHECK(pid_of(scope->connection()) == pid);  // the same pooled connection
        CHECK(show(scope->connection(), "statement_timeout") == "0");
        scope->connection().execute("SELECT pg_sleep(0.1)");  // not cancelled
        scope.close(true);
    }
    // call_with_retry answers a timeout at once (HTTP 408 upstream), no retry.
    atrium::retry_report report;
    int attempts = 0;
    CHECK(throws_as<timeout_error>([&] {
        atrium::retry_options options;
        options.timeout = 0.05;
        atrium::call_with_retry(f.db, 0, options, [&](atrium::transaction& t) {
            ++attempts;
            t.connection().execute("SELECT pg_sleep(2)");
            return nlohmann::json();
        }, &report);
    }));
    CHECK(attempts == 1);
    lease c(f.db);
    CHECK(pid_of(*c) == pid);
    CHECK(show(*c, "statement_timeout") == "0");
}

TEST_CASE("postgresql: user session settings are discarded before the next user") {
    pg_db f("?pool_size=1");
    std::int64_t pid = 0;
    {
        lease c(f.db);
        pid = pid_of(*c);
        c->begin({});
        c->execute("SET search_path TO pg_catalog");
        c->execute("SET application_name = 'leaky'");
        CHECK(c->session_state_dirty());
        c->commit();
    }
    lease c(f.db);
    CHECK(pid_of(*c) == pid);
    CHECK(!c->session_state_dirty());
    CHECK(show(*c, "search_path") == "\"$user\", public");
    CHECK(show(*c, "application_name") != "leaky");
}

TEST_CASE("postgresql: a transaction left open is rolled back when its connection goes back to the pool") {
    pg_db f("?pool_size=1");
    {
        lease c(f.db);
        c->execute("BEGIN");  // by hand: followed all the same
        CHECK(c->in_transaction());
        c->execute("INSERT INTO note (text) VALUES ('left open')");
    }
    lease c(f.db);
    CHECK(!c->in_transaction());
    CHECK(c->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});
}

// ---------------------------------------------------------------------------
// Concurrency errors and the retry loop

TEST_CASE("postgresql: two transactions updating one row: serialization failure 40001, retryable; the retry loop then succeeds") {
    pg_db f;
    {
        lease a(f.db);
        lease b(f.db);
        a->begin({});
        CHECK(a->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
        b->begin({});
        b->execute("UPDATE counter SET n = n + 1 WHERE id = 1");
        b->commit();
        try {
            a->execute("UPDATE counter SET n = n + 1 WHERE id = 1");
            FAIL("no serialization failure");
        } catch (const operational_error& e) {
            CHECK(e.code() == "40001");
            CHECK(e.category() == error_category::retryable);
            CHECK(e.is_retryable());
            CHECK(contains(e.what(), "could not serialize access"));
        }
        a->rollback();
    }

    // The same conflict inside call_with_retry: the first attempt fails, the second commits.
    int attempts = 0;
    atrium::retry_report report;
    atrium::retry_options options;
    options.backoff = 1ms;
    const auto result = atrium::call_with_retry(
        f.db, 0, options,
        [&](atrium::transaction& t) {
            ++attempts;
            auto& c = t.connection();
            c.execute("SELECT n FROM counter WHERE id = 1");  // takes the snapshot
            if (attempts == 1) {
                lease other(f.db);  // a concurrent writer commits after our snapshot
                other->begin({});
                other->execute("UPDATE counter SET n = n + 10 WHERE id = 1");
                other->commit();
            }
            c.execute("UPDATE counter SET n = n + 1 WHERE id = 1");
            return nlohmann::json(attempts);
        },
        &report);
    CHECK(result == 2);
    CHECK(report.retries == 1);
    CHECK(f.execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{12}});
}

TEST_CASE("postgresql: a deadlock is classified 40P01, retryable (two fibers, one thread)") {
    pg_db f;
    std::vector<database_error> errors;
    int committed = 0;
    auto worker = [&](std::int64_t first, std::int64_t second) {
        return [&, first, second] {
            auto conn = f.db->acquire();
            conn->begin({});
            conn->execute("SET LOCAL deadlock_timeout = '50ms'");
            conn->execute("UPDATE counter SET n = n + 1 WHERE id = ?", {first});
            atrium::fiber::current().sleep_for(50ms);  // the other fiber takes its first row
            try {
                conn->execute("UPDATE counter SET n = n + 1 WHERE id = ?", {second});
                conn->commit();
                ++committed;
            } catch (const database_error& e) {
                errors.push_back(e);
                conn->rollback();
            }
            f.db->release(std::move(conn));
        };
    };
    run_fibers({worker(1, 2), worker(2, 1)});
    REQUIRE(errors.size() == 1);
    CHECK(committed == 1);
    CHECK(errors[0].code() == "40P01");
    CHECK(errors[0].is_retryable());
    CHECK(contains(errors[0].what(), "deadlock"));
}

TEST_CASE("postgresql: lock_table raises TransactionError, is fixed, and the retry starts with the table locked (NOWAIT 55P03 for others)") {
    pg_db f;
    int attempts = 0;
    atrium::retry_report report;
    atrium::call_with_retry(
        f.db, 0, {},
        [&](atrium::transaction& t) {
            ++attempts;
            t.lock_table("note");  // attempt 1: table_lock_required; fixed into the extras
            CHECK(attempts == 2);
            // The retry took the lock at start.
            const auto mode = t.connection().execute(
                "SELECT mode FROM pg_locks WHERE relation = 'note'::regclass AND pid = pg_backend_pid()");
            REQUIRE(mode.size() == 1);
            CHECK(mode.rows[0][0] == value{std::string("ExclusiveLock")});
            // A second connection trying the same lock does not wait: 55P03, retryable.
            lease other(f.db);
            other->begin({});
            auto e = catch_database_error([&] { other->lock_table("note"); });
            CHECK(e.code() == "55P03");
            CHECK(e.is_retryable());
            CHECK(contains(e.what(), "could not obtain lock"));
            other->rollback();
            t.connection().execute("INSERT INTO note (text) VALUES ('locked')");
            return nlohmann::json();
        },
        &report);
    CHECK(attempts == 2);
    CHECK(report.fixes == 1);
    CHECK(report.retries == 0);
    CHECK(report.extras["_lock_tables"] == nlohmann::json::array({"note"}));
    CHECK(f.execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{1}});
}

TEST_CASE("postgresql: lock_records is FOR UPDATE NOWAIT; a held lock makes the start fail after its retries") {
    pg_db f;
    lease holder(f.db);
    holder->begin({});
    holder->lock_records("counter", {1});
    holder->lock_records("counter", {});  // nothing to lock
    {
        lease other(f.db);
        other->begin({});
        other->lock_records("counter", {2});  // another row: free
        auto e = catch_database_error([&] { other->lock_records("counter", {2, 1}); });
        CHECK(e.code() == "55P03");
        CHECK(e.is_retryable());
        other->rollback();
        CHECK(throws_as<programming_error>([&] { other->lock_table("note; DROP TABLE note"); }));
    }
    // Start-time locks (SPEC §4.2): retried lock_retries times, then the error propagates.
    atrium::transaction_options options;
    options.extras = {{"_lock_records", {{"counter", {1}}}}};
    options.lock_retries = 2;
    options.lock_backoff = 1ms;
    auto e = catch_database_error([&] { auto scope = atrium::begin(f.db, 0, options); });
    CHECK(e.code() == "55P03");
    holder->rollback();
    // Free now: the start succeeds and holds the row.
    auto scope = atrium::begin(f.db, 0, options);
    CHECK(scope->locked_records().at("counter") == std::set<std::int64_t>{1});
    scope.close(false);
}

TEST_CASE("postgresql: a start-lock retry waits (bounded lock_timeout) for a lock held elsewhere instead of failing NOWAIT") {
    pg_db f;
    lease holder(f.db);
    holder->begin({});
    holder->lock_table("note");
    // The holder lets go after 300 ms, longer than every NOWAIT retry's back-off.
    std::thread release([&] {
        std::this_thread::sleep_for(300ms);
        holder->rollback();
    });
    atrium::transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}};
    options.lock_retries = 1;
    options.lock_backoff = 1ms;
    options.lock_retry_wait = 5000ms;  // one retry: it waits all of it
    const auto start = std::chrono::steady_clock::now();
    std::optional<atrium::transaction_scope> scope;
    CHECK_NOTHROW(scope.emplace(atrium::begin(f.db, 0, options)));
    release.join();
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    if (scope) {
        CHECK((*scope)->locked_tables().count("note") == 1);
        // The wait applied to the start-time locks only: later statements have no lock_timeout.
        CHECK((*scope)->connection().execute("SHOW lock_timeout").rows.at(0).at(0) == value{std::string("0")});
        scope->close(false);
    }
    // Still bounded: a lock that stays held fails after the wait.
    lease keeper(f.db);
    keeper->begin({});
    keeper->lock_table("note");
    options.lock_retry_wait = 100ms;
    auto e = catch_database_error([&] { auto again = atrium::begin(f.db, 0, options); });
    CHECK(e.code() == "55P03");
    keeper->rollback();
}

// ---------------------------------------------------------------------------
// Lost connections

TEST_CASE("postgresql: a backend killed mid-transaction: the connection is discarded, never reconnected, and the next transaction works") {
    pg_db f("?pool_size=2");
    std::int64_t victim = 0;
    {
        auto scope = atrium::begin(f.db, 0);
        auto& conn = dynamic_cast<pg_connection&>(scope->connection());
        conn.execute("INSERT INTO note (text) VALUES ('lost')");
        victim = pid_of(conn);
        CHECK(conn.backend_pid() == victim);
        terminate_backend(f, victim);
        CHECK(f.db->in_use() == 1);

        auto lost = catch_database_error([&] { conn.execute("SELECT 1"); });
        CHECK(lost.is_retryable());
        CHECK((lost.code() == "08006" || lost.code() == "57P01"));
        CHECK(conn.broken());
        CHECK(!conn.is_open());
        CHECK(conn.backend_pid() == 0);
        // libpqxx 6.4 would reconnect silently here: it is never asked again.
        for (int i = 0; i < 3; ++i) {
            auto again = catch_database_error([&] { conn.execute("SELECT pg_backend_pid()"); });
            CHECK(again.code() == "08003");
            CHECK(again.is_retryable());
        }
        conn.rollback();  // a no-op: the server rolled back
        scope.close(false);
    }
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 0);  // discarded, not pooled

    auto scope = atrium::begin(f.db, 0);
    CHECK(pid_of(scope->connection()) != victim);
    CHECK(scope->connection().execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});
    scope->connection().execute("INSERT INTO note (text) VALUES ('after')");
    scope.close(true);
    CHECK(f.execute("SELECT text FROM note").rows.at(0).at(0) == value{std::string("after")});
    CHECK(f.db->idle() == 1);
}

TEST_CASE("postgresql: an idle pooled connection the server closed is skipped by acquire") {
    pg_db f("?pool_size=2");
    std::int64_t victim = 0;
    {
        lease c(f.db);
        victim = pid_of(*c);
    }
    REQUIRE(f.db->idle() == 1);
    terminate_backend(f, victim);
    lease c(f.db);
    CHECK(pid_of(*c) != victim);
    CHECK(f.db->in_use() == 1);
    CHECK(f.db->idle() == 0);
}

TEST_CASE("postgresql: a connection lost at COMMIT is in doubt and never retried") {
    pg_db f;
    {
        lease c(f.db);
        c->begin({});
        c->execute("INSERT INTO note (text) VALUES ('?')");
        terminate_backend(f, pid_of(*c));
        try {
            c->commit();
            FAIL("no error");
        } catch (const in_doubt_error& e) {
            CHECK(e.category() == error_category::in_doubt);
            CHECK(!e.is_retryable());
            CHECK(e.query() == "COMMIT");
            CHECK(contains(e.what(), "outcome is unknown"));
        }
        CHECK(c->broken());
        CHECK(!c->in_transaction());
    }
    int attempts = 0;
    CHECK(throws_as<in_doubt_error>([&] {
        atrium::call_with_retry(f.db, 0, {}, [&](atrium::transaction& t) {
            ++attempts;
            t.connection().execute("INSERT INTO note (text) VALUES ('x')");
            terminate_backend(f, pid_of(t.connection()));
            return nlohmann::json();
        });
    }));
    CHECK(attempts == 1);
    CHECK(f.db->in_use() == 0);
}

// ---------------------------------------------------------------------------
// The pool

TEST_CASE("postgresql: an exhausted pool suspends the waiting fiber until a connection is released") {
    pg_db f("?pool_size=2&pool_wait_ms=3000");
    steady_clock::duration waited{};
    std::int64_t holder_pid = 0;
    std::int64_t waiter_pid = 0;
    run_fibers({
        [&] {
            auto a = f.db->acquire();
            auto b = f.db->acquire();
            holder_pid = pid_of(*b);
            // While this fiber sleeps, the other one waits for a connection;
            // if its wait blocked the thread, this release would never happen.
            atrium::fiber::current().sleep_for(100ms);
            f.db->release(std::move(b));
            atrium::fiber::current().sleep_for(50ms);
            f.db->release(std::move(a));
        },
        [&] {
            CHECK(f.db->in_use() == 2);
            const auto start = steady_clock::now();
            auto c = f.db->acquire();
            waited = steady_clock::now() - start;
            waiter_pid = pid_of(*c);
            f.db->release(std::move(c));
        },
    });
    MESSAGE("waited " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                      << " ms for a released connection");
    CHECK(waited >= 90ms);
    CHECK(waited < 2s);
    CHECK(waiter_pid == holder_pid);  // the released connection, not a third one
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 2);
}

TEST_CASE("postgresql: waiters for an exhausted pool are served first come, first served, without polling") {
    // The pool's sleeps are recorded: a waiter that polled would sleep in steps.
    std::atomic<int> sleeps{0};
    auto hooks = atrium::fiber_wait_hooks();
    auto sleep = hooks.sleep_for;
    hooks.sleep_for = [&, sleep](std::chrono::nanoseconds d) {
        ++sleeps;
        sleep(d);
    };
    pg_db f("?pool_size=1&pool_wait_ms=3000", hooks);
    std::vector<int> order;
    std::int64_t first_pid = 0;
    std::vector<std::int64_t> pids;
    steady_clock::time_point released;
    steady_clock::duration hand_over{};
    std::vector<std::function<void()>> bodies{
        [&] {
            auto c = f.db->acquire();
            first_pid = pid_of(*c);
            atrium::fiber::current().sleep_for(100ms);  // the three others queue meanwhile
            released = steady_clock::now();
            f.db->release(std::move(c));
        },
    };
    for (int i = 0; i < 3; ++i) {
        bodies.push_back([&, i] {
            atrium::fiber::current().sleep_for(10ms * (i + 1));  // queue in a known order: 1, 2, 3
            auto c = f.db->acquire();
            if (order.empty()) hand_over = steady_clock::now() - released;
            order.push_back(i + 1);
            pids.push_back(pid_of(*c));
            atrium::fiber::current().sleep_for(5ms);
            f.db->release(std::move(c));
        });
    }
    run_fibers(bodies);
    CHECK(order == std::vector<int>{1, 2, 3});
    CHECK(pids == std::vector<std::int64_t>{first_pid, first_pid, first_pid});  // handed over, never reopened
    MESSAGE("first waiter served " << std::chrono::duration_cast<std::chrono::microseconds>(hand_over).count()
                                   << " us after the release");
    CHECK(hand_over < 20ms);
    CHECK(sleeps.load() == 0);  // the pool's waiters never slept in steps
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 1);
}

TEST_CASE("postgresql: a connection closed on release passes its place to the first waiter") {
    pg_db f("?pool_size=1&pool_wait_ms=3000");
    std::int64_t first_pid = 0;
    std::int64_t waiter_pid = 0;
    std::size_t in_use_seen = 0;
    run_fibers({
        [&] {
            auto c = f.db->acquire();
            first_pid = pid_of(*c);
            atrium::fiber::current().sleep_for(50ms);
            f.db->release(std::move(c), /*close=*/true);
        },
        [&] {
            auto c = f.db->acquire();
            waiter_pid = pid_of(*c);
            in_use_seen = f.db->in_use();
            f.db->release(std::move(c));
        },
    });
    CHECK(waiter_pid != first_pid);  // a new connection in the freed place
    CHECK(in_use_seen == 1);         // the bound held
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 1);
}

TEST_CASE("postgresql: a waiter that times out leaves the queue; the next release goes to the next waiter") {
    pg_db f("?pool_size=1&pool_wait_ms=3000");
    f.pg().set_pool_wait(60ms);
    bool first_timed_out = false;
    bool second_served = false;
    run_fibers({
        [&] {
            auto c = f.db->acquire();
            atrium::fiber::current().sleep_for(100ms);  // the first waiter gives up meanwhile
            f.db->release(std::move(c));
        },
        [&] {
            try {
                auto c = f.db->acquire();
                f.db->release(std::move(c));
            } catch (const operational_error& e) {
                first_timed_out = contains(e.what(), "exhausted");
            }
        },
        [&] {
            atrium::fiber::current().sleep_for(30ms);
            f.pg().set_pool_wait(1000ms);
            auto c = f.db->acquire();
            second_served = true;
            f.db->release(std::move(c));
        },
    });
    CHECK(first_timed_out);
    CHECK(second_served);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("postgresql: an exhausted pool times out with a clear error") {
    pg_db f("?pool_size=2");
    f.pg().set_pool_wait(150ms);
    auto a = f.db->acquire();
    auto b = f.db->acquire();
    const auto start = steady_clock::now();
    try {
        f.db->acquire();
        FAIL("no error");
    } catch (const operational_error& e) {
        CHECK(e.category() == error_category::unavailable);  // answered 503 + Retry-After
        CHECK(!e.is_retryable());
        CHECK(contains(e.what(), "connection pool for database \"" + f.name + "\" exhausted: 2 connections in use for"));
    }
    CHECK(steady_clock::now() - start >= 140ms);
    f.db->release(std::move(a));
    f.db->release(std::move(b));
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("postgresql: idle connections older than the idle timeout are closed") {
    pg_db f("?pool_size=3&idle_timeout_s=0.2");
    std::set<std::int64_t> old;
    {
        lease a(f.db);
        lease b(f.db);
        old = {pid_of(*a), pid_of(*b)};
    }
    CHECK(f.db->idle() == 2);
    std::this_thread::sleep_for(300ms);
    {
        lease c(f.db);  // the sweep closes both before handing out a new one
        CHECK(f.db->idle() == 0);
        CHECK(!old.count(pid_of(*c)));
        // Those backends are gone on the server too.
        lease admin(f.server->open(""));
        std::this_thread::sleep_for(50ms);
        for (auto pid : old) {
            CAPTURE(pid);
            CHECK(admin->execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ?", {pid}).rows.at(0).at(0) ==
                  value{std::int64_t{0}});
        }
    }
    // A young idle connection survives a sweep.
    f.pg().set_idle_timeout(1h);
    auto& pool = dynamic_cast<pg_database&>(*f.db);
    CHECK(pool.idle() == 1);
    CHECK(pool.close_expired() == 0);
    CHECK(pool.idle() == 1);
    f.pg().set_idle_timeout(0ms);
    CHECK(pool.close_expired() == 1);
    CHECK(pool.idle() == 0);
}

TEST_CASE("postgresql: two threads share one pool within its bound") {
    pg_db f("?pool_size=3", {});  // thread-blocking waits
    std::atomic<int> failures{0};
    std::atomic<std::size_t> most_in_use{0};
    auto work = [&] {
        for (int i = 0; i < 40; ++i) {
            try {
                lease c(f.db);
                const auto now = f.db->in_use();
                for (auto seen = most_in_use.load(); now > seen && !most_in_use.compare_exchange_weak(seen, now);) {
                }
                c->begin({});
                c->execute("UPDATE counter SET n = n + 1 WHERE id = ?", {std::int64_t{1 + i % 2}});
                c->commit();
            } catch (const database_error& e) {
                // Two writers of one row: a retryable conflict is fine, nothing else.
                if (!e.is_retryable()) ++failures;
            }
        }
    };
    std::thread a(work), b(work);
    work();
    a.join();
    b.join();
    CHECK(failures == 0);
    CHECK(most_in_use.load() <= 3);
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() <= 3);
}

TEST_CASE("postgresql: a closed connection is a programming error; a broken one is discarded on release") {
    pg_db f;
    auto conn = f.db->acquire();
    conn->close();
    CHECK(!conn->is_open());
    CHECK(throws_as<programming_error>([&] { conn->execute("SELECT 1"); }));
    f.db->release(std::move(conn));
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 0);
    // A connection destroyed without release still fixes the count.
    {
        auto lost = f.db->acquire();
        CHECK(f.db->in_use() == 1);
    }
    CHECK(f.db->in_use() == 0);
}

// ---------------------------------------------------------------------------
// Database management

TEST_CASE("postgresql: create, list, exists, open and drop databases") {
    auto be = open_backend(dsn(), atrium::fiber_wait_hooks());
    const std::string name = "pgmgmt_" + std::to_string(::getpid());
    if (be->exists(name)) be->drop(name);

    CHECK(!be->exists(name));
    CHECK(!be->exists(""));
    auto missing = catch_database_error([&] { be->open(name); });
    CHECK(missing.code() == "3D000");

    be->create(name);
    CHECK(be->exists(name));
    const auto names = be->list();
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
    CHECK(std::find(names.begin(), names.end(), "template0") == names.end());
    CHECK(std::find(names.begin(), names.end(), "template1") == names.end());

    auto dup = catch_database_error([&] { be->create(name); });
    CHECK(dup.code() == "42P04");
    CHECK(dup.category() == error_category::programming);

    auto db = be->open(name);
    CHECK(be->open(name) == db);  // cached
    CHECK(db->name() == name);
    CHECK(db->backend_name() == "postgresql");
    {
        auto conn = db->acquire();
        CHECK(std::get<std::string>(conn->execute("SELECT current_database()").rows.at(0).at(0)) == name);
        CHECK(std::get<std::string>(conn->execute("SHOW server_encoding").rows.at(0).at(0)) == "UTF8");
        // Dropping while this process uses it: refused clearly, nothing dropped.
        auto busy = catch_database_error([&] { be->drop(name); });
        CHECK(busy.code() == "55006");
        CHECK(contains(busy.what(), "still in use"));
        CHECK(be->exists(name));
        db->release(std::move(conn));
    }
    CHECK(db->idle() == 1);
    be->drop(name);  // closes the idle connection first
    CHECK(!be->exists(name));
    const auto after = be->list();
    CHECK(std::find(after.begin(), after.end(), name) == after.end());
    CHECK(throws_as<operational_error>([&] { db->acquire(); }));  // the old pool is closed

    auto gone = catch_database_error([&] { be->drop(name); });
    CHECK(gone.code() == "3D000");
    CHECK(gone.category() == error_category::programming);
    CHECK(throws_as<invalid_database_name>([&] { be->create("bad name"); }));
    CHECK(throws_as<invalid_database_name>([&] { be->create(""); }));
    CHECK(throws_as<invalid_database_name>([&] { be->open("x\"; DROP DATABASE postgres; --"); }));
    CHECK(throws_as<invalid_database_name>([&] { be->create(std::string(64, 'a')); }));

    // The maintenance database: open("") lists, and is `postgres`.
    auto maintenance = be->open("");
    CHECK(maintenance->name().empty());
    auto conn = maintenance->acquire();
    CHECK(std::get<std::string>(conn->execute("SELECT current_database()").rows.at(0).at(0)) == "postgres");
    maintenance->release(std::move(conn));
}

// ---------------------------------------------------------------------------
// The point of it all: waits suspend the fiber, not the thread

TEST_CASE("postgresql: 100 fibers each sleeping 0.1 s in PostgreSQL overlap on one thread") {
    constexpr int fibers = 100;
    pg_db f("?pool_size=110");

    auto run = [&] {
        std::atomic<int> done{0};
        std::vector<std::function<void()>> bodies;
        for (int i = 0; i < fibers; ++i) {
            bodies.push_back([&] {
                auto scope = atrium::begin(f.db, 0);
                scope->connection().execute("SELECT pg_sleep(0.1)");
                scope.close(true);
                ++done;
            });
        }
        const auto start = steady_clock::now();
        run_fibers(bodies);
        const auto elapsed = steady_clock::now() - start;
        REQUIRE(done == fibers);
        return std::chrono::duration<double>(elapsed).count();
    };

    // Cold: the pool opens 100 connections (a blocking ~3 ms libpq connect each).
    const double cold = run();
    CHECK(f.db->idle() == static_cast<std::size_t>(fibers));
    // Warm: the measure of overlap.
    const double warm = run();
    MESSAGE("100 fibers x SELECT pg_sleep(0.1) on one thread: " << warm << " s with a warm pool, " << cold
                                                                << " s cold (serial would be 10 s)");
    REQUIRE(warm < 1.5);
    CHECK(cold < 5.0);
}

// ---------------------------------------------------------------------------
// Socket watches and the pool's thread affinity

namespace {

// Runs `body` in a fiber on `io`, on a thread of its own (so that each io
// context is an event loop of another thread), until `io` runs out of work.
void run_on_own_thread(boost::asio::io_context& io, std::function<void()> body) {
    std::exception_ptr failure;
    std::thread runner([&] {
        io.restart();
        atrium::fiber::spawn_fiber(io, std::move(body), [&](std::exception_ptr error) { failure = error; });
        io.run();
    });
    runner.join();
    if (failure) std::rethrow_exception(failure);
}

// One statement that makes the fiber really wait for the server.
void wait_for_server(pg_connection& c) {
    c.begin({});
    c.execute("SELECT pg_sleep(0.005)");
    c.commit();
}

class fake_waker final : public waker {
public:
    explicit fake_waker(bool here) : here_(here) {}
    bool wait(std::chrono::nanoseconds) override { return false; }
    void wake() noexcept override {}
    bool resumes_on_this_thread() const noexcept override { return here_; }

private:
    bool here_;
};

std::list<std::shared_ptr<pg_pool_state::waiter>> queue_of(std::initializer_list<bool> on_this_thread) {
    std::list<std::shared_ptr<pg_pool_state::waiter>> waiters;
    for (bool here : on_this_thread) {
        waiters.push_back(std::make_shared<pg_pool_state::waiter>());
        waiters.back()->wake_up = std::make_shared<fake_waker>(here);
    }
    return waiters;
}

std::size_t position(const std::list<std::shared_ptr<pg_pool_state::waiter>>& waiters,
                     std::list<std::shared_ptr<pg_pool_state::waiter>>::const_iterator it) {
    return static_cast<std::size_t>(std::distance(waiters.begin(), it));
}

}  // namespace

TEST_CASE("postgresql: a connection's socket stays registered with the fiber's event loop between statements and uses") {
    pg_db f;
    boost::asio::io_context io(1);
    int first_pid = 0;
    int second_pid = 0;
    std::size_t watches_in_use = 0;
    std::size_t watches_idle = 0;
    run_on_own_thread(io, [&] {
        {
            lease c(f.db);
            for (int i = 0; i < 3; ++i) wait_for_server(*c);
            CHECK(c->watched_here());
            first_pid = c->backend_pid();
            watches_in_use = atrium::fiber::open_socket_watches(io);
        }
        lease again(f.db);
        wait_for_server(*again);
        second_pid = again->backend_pid();
        watches_idle = atrium::fiber::open_socket_watches(io);
    });
    CHECK(first_pid == second_pid);
    CHECK(watches_in_use == 1);  // one registration for all the waits of both uses
    CHECK(watches_idle == 1);
    dynamic_cast<pg_database&>(*f.db).close_idle();
    CHECK(atrium::fiber::open_socket_watches(io) == 0);  // closing the connection drops it
}

TEST_CASE("postgresql: the pool gives a thread the idle connection its event loop watches, not just the latest") {
    pg_db f("?pool_size=2");
    boost::asio::io_context a(1);
    boost::asio::io_context b(1);
    int pid_x = 0;
    int pid_y = 0;
    run_on_own_thread(a, [&] {
        lease x(f.db);
        lease y(f.db);
        wait_for_server(*x);
        wait_for_server(*y);
        pid_x = x->backend_pid();
        pid_y = y->backend_pid();
    });  // released y, then x: x is the latest
    REQUIRE(pid_x != pid_y);
    int on_b = 0;
    run_on_own_thread(b, [&] {
        lease c(f.db);  // nothing is watched by b: the latest
        wait_for_server(*c);
        CHECK(c->watched_here());
        on_b = c->backend_pid();
    });
    CHECK(on_b == pid_x);
    // Now x is the latest and watched by b; y is watched by a.
    int on_a = 0;
    run_on_own_thread(a, [&] {
        lease c(f.db);
        CHECK(c->watched_here());
        wait_for_server(*c);
        on_a = c->backend_pid();
    });
    CHECK(on_a == pid_y);
    int on_b_again = 0;
    run_on_own_thread(b, [&] {
        lease c(f.db);
        CHECK(c->watched_here());
        on_b_again = c->backend_pid();
    });
    CHECK(on_b_again == pid_x);
    CHECK(atrium::fiber::open_socket_watches(a) == 1);
    CHECK(atrium::fiber::open_socket_watches(b) == 1);
}

TEST_CASE("postgresql: a pooled connection whose event loop is gone is watched afresh where it is used next") {
    pg_db f("?pool_size=1");
    int first_pid = 0;
    {
        boost::asio::io_context gone(1);
        run_on_own_thread(gone, [&] {
            lease c(f.db);
            wait_for_server(*c);
            first_pid = c->backend_pid();
        });
    }  // the io_context goes first; the connection stays in the pool
    boost::asio::io_context next(1);
    int next_pid = 0;
    run_on_own_thread(next, [&] {
        lease c(f.db);
        CHECK_FALSE(c->watched_here());
        wait_for_server(*c);
        CHECK(c->watched_here());
        next_pid = c->backend_pid();
    });
    CHECK(next_pid == first_pid);
    CHECK(atrium::fiber::open_socket_watches(next) == 1);
}

TEST_CASE("postgresql: a release serves a waiter on its own thread a little early, never one waiter over and over") {
    SUBCASE("first come, first served among waiters of one kind") {
        auto mine = queue_of({true, true, true});
        CHECK(position(mine, pg_pool_state::next_waiter(mine)) == 0);
        auto others = queue_of({false, false, false});
        CHECK(position(others, pg_pool_state::next_waiter(others)) == 0);
    }
    SUBCASE("a waiter on this thread within eight places goes first; one further down does not") {
        auto near = queue_of({false, false, true, false});
        CHECK(position(near, pg_pool_state::next_waiter(near)) == 2);
        auto far = queue_of({false, false, false, false, false, false, false, false, false, false, true});
        CHECK(position(far, pg_pool_state::next_waiter(far)) == 0);
    }
    SUBCASE("a waiter overtaken twice is served next") {
        auto waiters = queue_of({false, true, true, true});
        auto first = pg_pool_state::next_waiter(waiters);
        CHECK(position(waiters, first) == 1);
        waiters.erase(first);
        auto second = pg_pool_state::next_waiter(waiters);
        CHECK(position(waiters, second) == 1);
        waiters.erase(second);
        CHECK(waiters.front()->passed_over == 2);
        CHECK(position(waiters, pg_pool_state::next_waiter(waiters)) == 0);
    }
}

TEST_CASE("postgresql: a read-only COMMIT goes when its connection goes idle, or with the first round trip of the waiter it goes to") {
    pg_db f("?pool_size=1");
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    lease other(db2);
    begin_options ro;
    ro.readonly = true;
    int pid = 0;

    // Released with nobody waiting: the COMMIT waits in the idle list for a
    // next user for about a millisecond, then the pool sends it.
    std::string state;
    std::string state_when_idle;
    std::string state_after_flush;
    atrium::test::run_in_fiber([&] {
        {
            lease c(f.db);
            pid = c->backend_pid();
            c->begin(ro);
            c->execute("SELECT count(*) FROM note");
            c->commit();
            CHECK(c->has_unsent_commit());
        }
        state_when_idle = activity_state(*other, pid);
        atrium::fiber::current().sleep_for(50ms);  // the flush runs on this event loop meanwhile
        for (int i = 0; i < 200 && (state_after_flush = activity_state(*other, pid)) != "idle"; ++i) {
            atrium::fiber::current().sleep_for(5ms);
        }
    });
    CHECK(state_when_idle == "idle in transaction");
    CHECK(state_after_flush == "idle");
    // Without an event loop (thread waits) it is sent on the way to the idle list.
    {
        lease c(f.db);
        c->begin(ro);
        c->execute("SELECT count(*) FROM note");
        c->commit();
    }
    for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) std::this_thread::sleep_for(5ms);
    CHECK(state == "idle");

    // Released to a waiter: the waiter's first statement carries it.
    boost::asio::io_context io(1);
    bool waiter_saw_unsent = false;
    std::string state_at_handover;
    value waiter_count;
    atrium::fiber::spawn_fiber(io, [&] {
        lease c(f.db);
        c->begin(ro);
        c->execute("SELECT count(*) FROM note");
        c->commit();
        // The waiter queues while this fiber holds the only connection.
        atrium::fiber::current().sleep_for(20ms);
        REQUIRE(f.db->in_use() == 1);
    });
    atrium::fiber::spawn_fiber(io, [&] {
        atrium::fiber::current().sleep_for(5ms);
        lease c(f.db);  // queued until the first fiber releases
        waiter_saw_unsent = c->has_unsent_commit();
        state_at_handover = activity_state(*other, pid);
        c->begin(ro);
        waiter_count = c->execute("SELECT count(*) FROM note").rows.at(0).at(0);
        c->commit();
    });
    io.run();
    CHECK(waiter_saw_unsent);
    CHECK(state_at_handover == "idle in transaction");
    CHECK(waiter_count == value{std::int64_t{0}});
    for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) std::this_thread::sleep_for(5ms);
    CHECK(state == "idle");  // the waiter's own COMMIT went when it released to the idle list
}

// ---------------------------------------------------------------------------
// Server-side prepared statements

namespace {

// The prepared statements of the session `c` is on, as "name: statement".
std::vector<std::string> prepared_on(lease& c) {
    std::vector<std::string> out;
    // (This query, prepared too, lists itself: left out.)
    for (const auto& r : c->execute("SELECT name || ': ' || statement FROM pg_prepared_statements "
                                    "WHERE statement NOT LIKE '%pg_prepared_statements%' ORDER BY name")
                             .rows) {
        out.push_back(std::get<std::string>(r.at(0)));
    }
    return out;
}

bool any_contains(const std::vector<std::string>& lines, std::string_view part) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("postgresql: plain DML is prepared once per connection, with its transaction's first round trip, and gives the same results") {
    std::atomic<int> waits{0};
    const wait_hooks hooks = counting_waits(waits);
    pg_db f("?pool_size=1", hooks);
    lease c(f.db);
    for (int round = 0; round < 3; ++round) {
        waits = 0;
        c->begin({});
        c->execute("INSERT INTO note (text) VALUES (?)", {std::string("n") + std::to_string(round)});
        CHECK(waits == 1);  // PREPARE; BEGIN; EXECUTE: one round trip, also the first time
        const auto got = c->execute("SELECT id, text FROM note WHERE text = ? AND id > ?",
                                    {std::string("n") + std::to_string(round), std::int64_t{0}});
        REQUIRE(got.rows.size() == 1);
        CHECK(got.rows[0][1] == value{std::string("n") + std::to_string(round)});
        c->commit();
    }
    const auto names = prepared_on(c);
    // The first statement of each transaction is prepared; the second, first
    // seen inside a transaction (where a failed PREPARE would abort it), is not.
    CHECK(any_contains(names, "INSERT INTO note (text) VALUES ($1)"));
    CHECK_FALSE(any_contains(names, "WHERE text = $1 AND id > $2"));
    const auto before = names.size();
    c->begin({});
    c->execute("INSERT INTO note (text) VALUES (?)", {std::string("again")});
    c->commit();
    CHECK(prepared_on(c).size() == before);  // reused, not prepared again

    // Values of every kind round-trip as through literals.
    c->execute("CREATE TABLE typed (i bigint, r double precision, t text, b bytea, ts timestamp, flag boolean)");
    for (int round = 0; round < 2; ++round) {
        c->begin({});
        c->execute("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)",
                   {std::int64_t{-7}, 2.5, std::string("it's"), blob{{0, 255, 10}}, std::string("2026-12-03 10:11:12"),
                    std::string("true")});
        c->commit();
    }
    c->begin({});
    const auto rows = c->execute("SELECT i, r, t, b, ts, flag FROM typed WHERE i = ? AND ts = ?",
                                 {std::int64_t{-7}, std::string("2026-12-03 10:11:12")});
    c->commit();
    REQUIRE(rows.rows.size() == 2);
    CHECK(rows.rows[0][0] == value{std::int64_t{-7}});
    CHECK(rows.rows[0][1] == value{2.5});
    CHECK(rows.rows[0][2] == value{std::string("it's")});
    CHECK(rows.rows[0][3] == value{blob{{0, 255, 10}}});
    CHECK(rows.rows[0][4] == value{std::string("2026-12-03 10:11:12")});
    CHECK(rows.rows[0][5] == value{std::int64_t{1}});
}

TEST_CASE("postgresql: a statement the server cannot prepare runs as literal text, without aborting its transaction") {
    pg_db f("?pool_size=2");
    lease c(f.db);
    for (int round = 0; round < 2; ++round) {
        c->begin({});
        // $1's type cannot be inferred from `? IS NULL`: PREPARE fails.
        const auto r = c->execute("SELECT count(*) FROM note WHERE ? IS NULL", {nullptr});
        CHECK(r.rows.at(0).at(0) == value{std::int64_t{round}});
        c->execute("INSERT INTO note (text) VALUES ('still in the transaction')");
        c->commit();
    }
    CHECK(f.execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{2}});
    CHECK_FALSE(any_contains(prepared_on(c), "IS NULL"));
    // A real error is still the statement's own, in its transaction.
    c->begin({});
    CHECK(catch_database_error([&] { c->execute("SELECT nope FROM note WHERE id = ?", {std::int64_t{1}}); }).code() ==
          "42703");
    c->rollback();
}

TEST_CASE("postgresql: a prepared statement outdated by a schema change fails retryably, and the retry prepares afresh") {
    pg_db f("?pool_size=2");
    lease c(f.db);
    auto read_all = [&] {
        c->begin({});
        auto r = c->execute("SELECT * FROM note WHERE id > ?", {std::int64_t{0}});
        c->commit();
        return r;
    };
    f.execute("INSERT INTO note (text) VALUES ('x')");
    CHECK(read_all().columns.size() == 2);
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    {
        lease other(db2);
        other->execute("ALTER TABLE note ADD COLUMN extra integer");
    }
    const auto stale = catch_database_error([&] { read_all(); });
    CHECK(stale.is_retryable());
    CHECK(stale.code() == "0A000");
    c->rollback();
    CHECK(read_all().columns.size() == 3);
}

TEST_CASE("postgresql: DISCARD ALL on a dirty session forgets the prepared statements; ?prepare=false prepares none") {
    {
        pg_db f("?pool_size=1");
        {
            lease c(f.db);
            c->begin({});
            c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});
            c->commit();
            c->execute("SET work_mem = '8MB'");  // session state: the pool discards it
        }
        lease c(f.db);
        CHECK(prepared_on(c).empty());
        c->begin({});
        c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});  // prepared again, under the same key
        c->commit();
        CHECK(any_contains(prepared_on(c), "WHERE id = $1"));
    }
    pg_db f("?pool_size=1&prepare=false");
    lease c(f.db);
    c->begin({});
    c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});
    c->commit();
    CHECK(prepared_on(c).empty());
}

TEST_CASE("postgresql: a statement prepared in a batch that then fails stays prepared, not prepared again per call") {
    pg_db f("?pool_size=2");
    f.execute("CREATE UNIQUE INDEX note_text ON note (text)");
    f.execute("INSERT INTO note (text) VALUES ('taken')");
    lease c(f.db);
    for (int round = 0; round < 4; ++round) {
        c->begin({});
        const auto e = catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES (?)", {std::string("taken")}); });
        CHECK(e.code() == "23505");
        c->rollback();
    }
    const auto names = prepared_on(c);
    CHECK(std::count_if(names.begin(), names.end(),
                        [](const std::string& l) { return l.find("VALUES ($1)") != std::string::npos; }) == 1);
}
