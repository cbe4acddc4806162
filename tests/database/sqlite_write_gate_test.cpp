// The in-process queue for SQLite's write lock: FIFO hand-over, timeouts, and
// writers of one database that wait for each other without sleeping.
#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/sqlite/sqlite_backend.hpp"
#include "database/sqlite/sqlite_write_gate.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

using namespace atrium::db;
using namespace std::chrono_literals;

namespace {

const sqlite_write_gate::make_waker_fn thread_wakers = [] { return make_thread_waker(); };

void wait_for_queue(const sqlite_write_gate& gate, std::size_t n) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (gate.waiting() < n && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    REQUIRE(gate.waiting() == n);
}

}  // namespace

TEST_CASE("write gate: writers get the turn in the order they queued, handed over without a sleep") {
    sqlite_write_gate gate;
    REQUIRE(gate.acquire(thread_wakers, 0s));  // free: taken at once
    std::mutex m;
    std::vector<int> order;
    std::vector<std::thread> writers;
    for (int i = 0; i < 3; ++i) {
        writers.emplace_back([&, i] {
            REQUIRE(gate.acquire(thread_wakers, 10s));
            {
                std::lock_guard lock(m);
                order.push_back(i);
            }
            gate.release();
        });
        wait_for_queue(gate, static_cast<std::size_t>(i) + 1);  // queue them in a known order
    }
    const auto start = std::chrono::steady_clock::now();
    gate.release();
    for (auto& t : writers) t.join();
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(gate.waiting() == 0);
    CHECK(gate.acquire(thread_wakers, 0s));  // free again
    gate.release();
}

TEST_CASE("write gate: a waiter gives up after its timeout and leaves the queue") {
    sqlite_write_gate gate;
    REQUIRE(gate.acquire(thread_wakers, 0s));
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(gate.acquire(thread_wakers, 30ms));
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
    CHECK(gate.waiting() == 0);
    gate.release();
    CHECK(gate.acquire(thread_wakers, 0s));
    gate.release();
}

TEST_CASE("write gate: a turn is never lost when waiters time out while it is handed over") {
    sqlite_write_gate gate;
    std::atomic<int> got{0};
    std::atomic<int> gave_up{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            for (int n = 0; n < 200; ++n) {
                if (gate.acquire(thread_wakers, std::chrono::microseconds(50 + n % 7 * 30))) {
                    ++got;
                    gate.release();
                } else {
                    ++gave_up;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(got + gave_up == 1600);
    CHECK(got > 0);
    // Nobody holds it and nobody is queued: it can be taken without waiting.
    CHECK(gate.waiting() == 0);
    CHECK(gate.acquire(thread_wakers, 0s));
    gate.release();
}

TEST_CASE("sqlite: with a waker hook, a second writer of the process waits for the first without polling") {
    atrium::test::temp_dir dir;
    std::atomic<int> sleeps{0};
    wait_hooks hooks;
    hooks.sleep_for = [&](std::chrono::nanoseconds d) {
        ++sleeps;
        std::this_thread::sleep_for(d);
    };
    hooks.make_waker = [] { return make_thread_waker(); };
    auto be = open_backend("sqlite://" + dir.path().string() + "?busy_wait_ms=2000", hooks);
    be->create("test");
    auto db = be->open("test");
    {
        auto c = db->acquire();
        c->execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)");
        c.return_to_pool();
    }
    auto first = db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('first')");
    std::atomic<bool> second_began{false};
    std::chrono::steady_clock::time_point second_began_at{};
    std::thread second_writer([&] {
        auto second = db->acquire();
        second->begin({});
        second_began_at = std::chrono::steady_clock::now();
        second_began = true;
        auto r = second->execute("SELECT count(*) FROM t");
        CHECK(std::get<std::int64_t>(r.rows.at(0).at(0)) == 1);  // sees the first one's commit
        second->execute("INSERT INTO t (name) VALUES ('second')");
        second->commit();
        second.return_to_pool();
    });
    // Queued behind the first: wait until it is in the gate's queue, then it must not have begun.
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (dynamic_cast<sqlite_database&>(*db).writers_queued() < 1 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(1ms);
    REQUIRE(dynamic_cast<sqlite_database&>(*db).writers_queued() == 1);
    CHECK_FALSE(second_began);
    const auto committing_at = std::chrono::steady_clock::now();
    first->commit();
    second_writer.join();
    CHECK(second_began);
    CHECK(second_began_at >= committing_at);  // it began only once the first one committed
    CHECK(sleeps == 0);  // woken by the commit, never polled SQLite

    // A writer that waits longer than the busy wait gets the retryable SQLITE_BUSY.
    dynamic_cast<sqlite_backend&>(*be).set_busy_wait(40ms);
    first->begin({});
    std::thread late([&] {
        auto third = db->acquire();
        try {
            third->begin({});
            FAIL("no error");
        } catch (const operational_error& e) {
            CHECK(e.is_retryable());
            CHECK(e.code() == "SQLITE_BUSY");
            CHECK(std::string(e.what()).find("gave up") != std::string::npos);
        }
        CHECK_FALSE(third->in_transaction());
        third.return_to_pool();
    });
    late.join();
    first->rollback();  // the turn is given back by a rollback too
    auto fourth = db->acquire();
    fourth->begin({});
    fourth->commit();
    fourth.return_to_pool();
    first.return_to_pool();
}
