// PostgreSQL statements: placeholders and quoting, and the classification
// of server errors by SQLSTATE.

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

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
    pg_handle c{f.db->acquire()};
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
    pg_handle c{f.db->acquire()};
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
    pg_handle c{f.db->acquire()};
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
