// The PostgreSQL connection pool: lost connections, exhaustion and its
// waiters, idle timeouts, threads sharing one pool.

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

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
        pg_handle c{f.db->acquire()};
        victim = pid_of(*c);
    }
    REQUIRE(f.db->idle() == 1);
    terminate_backend(f, victim);
    pg_handle c{f.db->acquire()};
    CHECK(pid_of(*c) != victim);
    CHECK(f.db->in_use() == 1);
    CHECK(f.db->idle() == 0);
}

TEST_CASE("postgresql: a connection lost at COMMIT is in doubt and never retried") {
    pg_db f;
    {
        pg_handle c{f.db->acquire()};
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
            b.return_to_pool();
            atrium::fiber::current().sleep_for(50ms);
            a.return_to_pool();
        },
        [&] {
            CHECK(f.db->in_use() == 2);
            const auto start = steady_clock::now();
            auto c = f.db->acquire();
            waited = steady_clock::now() - start;
            waiter_pid = pid_of(*c);
            c.return_to_pool();
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
            c.return_to_pool();
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
            c.return_to_pool();
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
            c.discard();
        },
        [&] {
            auto c = f.db->acquire();
            waiter_pid = pid_of(*c);
            in_use_seen = f.db->in_use();
            c.return_to_pool();
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
            c.return_to_pool();
        },
        [&] {
            try {
                auto c = f.db->acquire();
                c.return_to_pool();
            } catch (const operational_error& e) {
                first_timed_out = contains(e.what(), "exhausted");
            }
        },
        [&] {
            atrium::fiber::current().sleep_for(30ms);
            f.pg().set_pool_wait(1000ms);
            auto c = f.db->acquire();
            second_served = true;
            c.return_to_pool();
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
    a.return_to_pool();
    b.return_to_pool();
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("postgresql: idle connections older than the idle timeout are closed") {
    pg_db f("?pool_size=3&idle_timeout_s=0.2");
    std::set<std::int64_t> old;
    {
        pg_handle a{f.db->acquire()};
        pg_handle b{f.db->acquire()};
        old = {pid_of(*a), pid_of(*b)};
    }
    CHECK(f.db->idle() == 2);
    std::this_thread::sleep_for(300ms);
    {
        pg_handle c{f.db->acquire()};  // the sweep closes both before handing out a new one
        CHECK(f.db->idle() == 0);
        CHECK(!old.count(pid_of(*c)));
        // Those backends are gone on the server too.
        pg_handle admin{f.server->open("")->acquire()};
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
                pg_handle c{f.db->acquire()};
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
    conn.return_to_pool();
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == 0);
    // A connection destroyed without release still fixes the count.
    {
        auto lost = f.db->acquire();
        CHECK(f.db->in_use() == 1);
    }
    CHECK(f.db->in_use() == 0);
}
