// database/introspection.hpp on real SQLite files: what the transaction layer
// asks without naming a backend (PostgreSQL is covered through the
// conformance suite's recovery and identity tests).

#include "database/database.hpp"
#include "database/introspection.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace atrium::db;

TEST_CASE("introspection: SQLite tables, keys and locks") {
    atrium::test::temp_dir dir;
    auto be = open_backend("sqlite://" + dir.path().string());
    be->create("shop");
    auto database = be->open("shop");
    CHECK_FALSE(table_locks_wait(*database));

    auto a = database->acquire();
    auto b = database->acquire();
    // Same file, same key (a per-process cache checks it once); no round trip needed.
    const std::string key = database_key(*a);
    CHECK(key.rfind("sqlite:", 0) == 0);
    CHECK(key.find("shop") != std::string::npos);
    CHECK(database_key(*b) == key);

    a->begin({});
    CHECK(transaction_locks_database(*a));
    CHECK_FALSE(table_exists(*a, "atrium_probe"));
    a->execute("CREATE TABLE atrium_probe (id INTEGER PRIMARY KEY)");
    CHECK(table_exists(*a, "atrium_probe"));  // its own creation, not yet committed
    a->commit();
    b->begin({});
    CHECK(table_exists(*b, "atrium_probe"));
    b->rollback();

    CHECK_THROWS_AS(table_exists(*a, "probe'; DROP TABLE x; --"), std::invalid_argument);
    CHECK_THROWS_AS(table_exists(*a, ""), std::invalid_argument);
    a.return_to_pool();
    b.return_to_pool();
}
