// Server-side prepared statements of the PostgreSQL backend.

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Server-side prepared statements

namespace {

// The prepared statements of the session `c` is on, as "name: statement".
std::vector<std::string> prepared_on(pg_handle& c) {
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
    pg_handle c{f.db->acquire()};
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
    pg_handle c{f.db->acquire()};
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
    pg_handle c{f.db->acquire()};
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
        pg_handle other{db2->acquire()};
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
            pg_handle c{f.db->acquire()};
            c->begin({});
            c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});
            c->commit();
            c->execute("SET work_mem = '8MB'");  // session state: the pool discards it
        }
        pg_handle c{f.db->acquire()};
        CHECK(prepared_on(c).empty());
        c->begin({});
        c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});  // prepared again, under the same key
        c->commit();
        CHECK(any_contains(prepared_on(c), "WHERE id = $1"));
    }
    pg_db f("?pool_size=1&prepare=false");
    pg_handle c{f.db->acquire()};
    c->begin({});
    c->execute("SELECT id FROM note WHERE id = ?", {std::int64_t{1}});
    c->commit();
    CHECK(prepared_on(c).empty());
}

TEST_CASE("postgresql: a statement prepared in a batch that then fails stays prepared, not prepared again per call") {
    pg_db f("?pool_size=2");
    f.execute("CREATE UNIQUE INDEX note_text ON note (text)");
    f.execute("INSERT INTO note (text) VALUES ('taken')");
    pg_handle c{f.db->acquire()};
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
