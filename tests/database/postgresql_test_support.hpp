#pragma once
// What the PostgreSQL backend tests (postgresql_*_test.cpp) share: a fresh
// database on the test cluster (tests/support/pg_cluster.hpp: the ctest
// fixture's cluster, ATRIUM_TEST_PG_DSN, or one this process starts), typed
// pooled connections and small helpers.

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

namespace atrium::db::pg_test {

inline std::string dsn() { return atrium::test::pg_dsn(); }

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
        conn.return_to_pool();
        return out;
    }
};

// A pooled connection used as the PostgreSQL connection it is (the handle
// gives it back to its pool).
struct pg_handle {
    pooled_connection conn;
    pg_connection* operator->() const { return &pg(); }
    pg_connection& operator*() const { return pg(); }
    pg_connection& pg() const { return dynamic_cast<pg_connection&>(*conn); }
};

inline std::int64_t pid_of(connection& c) {
    return std::get<std::int64_t>(c.execute("SELECT pg_backend_pid()").rows.at(0).at(0));
}

inline std::string show(connection& c, const std::string& setting) {
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

inline bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The pg_stat_activity state of the server process `pid`, seen from `watcher`.
inline std::string activity_state(connection& watcher, std::int64_t pid) {
    return std::get<std::string>(
        watcher.execute("SELECT state FROM pg_stat_activity WHERE pid = ?", {value{pid}}).rows.at(0).at(0));
}

// Terminates a server process from a connection of the maintenance pool and
// waits until it has exited.
inline void terminate_backend(pg_db& f, std::int64_t pid) {
    pg_handle killer{f.server->open("")->acquire()};
    const auto r = killer->execute("SELECT pg_terminate_backend(?, 5000)", {pid});
    REQUIRE(std::get<std::int64_t>(r.rows.at(0).at(0)) == 1);
}

// Runs the bodies as fibers on one io_context (one thread) until all ended;
// rethrows the first failure.
inline void run_fibers(const std::vector<std::function<void()>>& bodies) {
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


// Thread-blocking waits that count themselves: with small replies (one
// segment each) every wait is one round trip.
inline wait_hooks counting_waits(std::atomic<int>& waits) {
    wait_hooks hooks;
    hooks.wait_readable = [&waits](int fd) {
        ++waits;
        pollfd entry{fd, POLLIN, 0};
        while (::poll(&entry, 1, -1) < 0) {
        }
    };
    return hooks;
}

}  // namespace atrium::db::pg_test
