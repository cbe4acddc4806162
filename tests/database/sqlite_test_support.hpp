#pragma once
// What the SQLite backend's tests share: a scratch directory backend, a
// recording sleep hook, begin options.

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


namespace atrium::test::sqlite_support {

using namespace atrium::db;

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
inline sqlite_connection& sqlite_of(const pooled_connection& conn) { return dynamic_cast<sqlite_connection&>(*conn); }

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

inline begin_options read_only() {
    begin_options o;
    o.readonly = true;
    return o;
}

inline begin_options with_timeout(std::chrono::milliseconds timeout) {
    begin_options o;
    o.statement_timeout = timeout;
    return o;
}

inline begin_options autocommit(std::optional<std::chrono::milliseconds> timeout = {}) {
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


}  // namespace atrium::test::sqlite_support
