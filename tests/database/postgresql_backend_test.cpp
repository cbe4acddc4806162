// The PostgreSQL backend: its URI, connection errors, and database
// management (create, list, exists, open, drop).

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// URIs

TEST_CASE("postgresql: URI parameters configure the pool, unknown ones are refused without showing the password") {
    auto be = open_backend("postgresql://alice:s3cret@127.0.0.1:5999/?pool_size=3&pool_wait_ms=250&"
                           "idle_timeout_s=0.5&retry=2&sslmode=disable");
    auto& pg = dynamic_cast<pg_backend&>(*be);
    CHECK(pg.name() == "postgresql");
    CHECK(pg.settings().pool_size == 3);
    CHECK(pg.settings().pool_wait.load() == 250ms);
    CHECK(pg.settings().idle_timeout.load() == 500ms);
    CHECK(pg.settings().retry == 2);
    CHECK(pg.display_uri() == "postgresql://alice:***@127.0.0.1:5999/");

    // Defaults: pool of 10, wait retry x 1 s (SPEC §1.2), idle 1800 s.
    auto defaults = open_backend("postgres://localhost");
    auto& d = dynamic_cast<pg_backend&>(*defaults);
    CHECK(d.settings().pool_size == 10);
    CHECK(d.settings().pool_wait.load() == 5000ms);
    CHECK(d.settings().idle_timeout.load() == 1800s);
    CHECK(dynamic_cast<pg_backend&>(*open_backend("postgresql://h/?retry=3")).settings().pool_wait.load() == 3000ms);
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
        conn.return_to_pool();
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
    conn.return_to_pool();
}
