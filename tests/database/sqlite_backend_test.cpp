// The SQLite backend: create, drop, list, exists, database names, URIs.

#include "tests/database/sqlite_test_support.hpp"

#include <doctest/doctest.h>

using namespace atrium::db;
using namespace atrium::test::sqlite_support;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_SUITE("sqlite") {

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
