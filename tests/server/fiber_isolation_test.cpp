// The transaction stack is fiber-local (SPEC §1.1, DESIGN principle 2): fibers
// interleaved on one thread, and many fibers on two threads, each inside its own
// transaction on a real SQLite database, never see each other's transaction,
// user, context or stack. Plus the fiber runtime's failure paths: exceptions
// reach the completion handler, and a suspended fiber is unwound (RAII, inside
// its own context) when its io_context is destroyed.

#include "database/database.hpp"
#include "fiber/runtime.hpp"
#include "fiber/unwind.hpp"
#include "tests/support/run_in_fiber.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/logging.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace atrium;
using fiber::spawn_fiber;

namespace {

/// A file SQLite database in a temporary directory with one `item` row per
/// fiber (id = owner = fiber number), whose waits suspend the calling fiber.
struct shared_database {
    test::temp_dir dir;
    std::unique_ptr<db::backend> backend;
    std::shared_ptr<db::database> db;

    explicit shared_database(int items) {
        db::wait_hooks hooks;
        hooks.sleep_for = [](std::chrono::nanoseconds duration) { fiber::current().sleep_for(duration); };
        backend = db::open_backend("sqlite://" + dir.string(), std::move(hooks));
        backend->create("isolation");
        db = backend->open("isolation");
        auto conn = db->acquire();
        conn->begin({});
        conn->execute("CREATE TABLE item (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL)");
        for (std::int64_t id = 0; id < items; ++id) conn->execute("INSERT INTO item VALUES (?, ?)", {id, id});
        conn->commit();
        conn.return_to_pool();
    }
};

transaction_options readonly_with_fiber(int fiber) {
    transaction_options options;
    options.readonly = true;
    options.context = {{"fiber", fiber}};
    return options;
}

std::int64_t owner_of(std::int64_t id) {
    const auto rows = current().connection().execute("SELECT owner FROM item WHERE id = ?", {id});
    if (rows.rows.size() != 1) return -1;
    const auto* owner = std::get_if<std::int64_t>(&rows.rows[0][0]);
    return owner ? *owner : -1;
}

/// The default context of the thread the caller runs on (read afresh, not cached).
fiber::context& running_thread_default() {
    fiber::context* installed = fiber::exchange_current(nullptr);
    fiber::context& thread_default = fiber::current();
    fiber::exchange_current(installed);
    return thread_default;
}

}  // namespace

TEST_SUITE("fiber_isolation") {

TEST_CASE("two fibers interleaved on one thread never see each other's transaction or user or context or stack") {
    shared_database database(2);
    boost::asio::io_context io(1);
    fiber::context& thread_default = fiber::current();
    REQUIRE(fiber_state(thread_default).stack().empty());

    constexpr int steps = 6;
    std::vector<int> order;  // which fiber reached each step, in time order
    std::array<std::exception_ptr, 2> errors{};
    std::array<bool, 2> finished{};

    for (int i = 0; i < 2; ++i) {
        fiber::spawn_fiber(
            io,
            [&, i] {
                const std::int64_t user = 10 + i;
                // Fiber 0 writes (SQLite's one writer), fiber 1 only reads: both
                // stay open across every suspension without waiting for each other.
                auto options = readonly_with_fiber(i);
                options.readonly = i == 1;
                auto scope = begin(database.db, user, std::move(options));
                if (i == 0) current().connection().execute("INSERT INTO item VALUES (?, ?)", {std::int64_t{100}, user});
                fiber::context* const mine = &fiber::current();
                CHECK(mine != &thread_default);

                const auto expect = [&](std::int64_t expected_user, std::size_t depth) {
                    CHECK(&fiber::current() == mine);
                    CHECK(current().user() == expected_user);
                    CHECK(current().context().value("fiber", -1) == i);
                    CHECK(fiber_state().stack().size() == depth);
                    CHECK(fiber_state(thread_default).stack().empty());
                };

                expect(user, 1);
                for (int step = 0; step < steps; ++step) {
                    order.push_back(i);
                    fiber::current().yield();
                    expect(user, 1);
                    {
                        auto context = set_context({{"step", step}, {"owner", i}});
                        fiber::current().yield();
                        expect(user, 1);
                        CHECK(current().context().value("step", -1) == step);
                        CHECK(current().context().value("owner", -1) == i);

                        auto as_other_user = set_user(user + 1000);
                        fiber::current().yield();
                        expect(user + 1000, 1);
                        CHECK(current().context().value("step", -1) == step);

                        auto second_reference = set_current_transaction(current());
                        fiber::current().sleep_for(std::chrono::microseconds(200));
                        expect(user + 1000, 2);
                        CHECK(owner_of(i) == i);
                    }
                    fiber::current().yield();
                    expect(user, 1);
                    CHECK_FALSE(current().context().contains("step"));
                    CHECK_FALSE(current().context().contains("owner"));
                }
                CHECK(owner_of(i) == i);
                CHECK(owner_of(100) == (i == 0 ? user : -1));  // fiber 1's snapshot predates the commit
                scope.close(true);
                CHECK(current_or_null() == nullptr);
                CHECK(fiber_state().stack().empty());
                finished[i] = true;
            },
            [&errors, i](std::exception_ptr error) { errors[i] = error; });
    }
    io.run();

    for (const auto& error : errors) {
        if (error) std::rethrow_exception(error);
    }
    CHECK(finished[0]);
    CHECK(finished[1]);
    CHECK(&fiber::current() == &thread_default);
    CHECK(fiber_state(thread_default).stack().empty());
    CHECK(database.db->in_use() == 0);
    CHECK(test::run_in_fiber([&] {
        auto scope = begin(database.db, 1, readonly_with_fiber(2));
        return owner_of(100);
    }) == 10);  // fiber 0's write was committed

    // The two fibers really took turns: both reached every step, and the
    // sequence switched fiber many times (strict alternation gives 2*steps - 1).
    REQUIRE(order.size() == 2 * steps);
    int switches = 0;
    for (std::size_t k = 1; k < order.size(); ++k) switches += order[k] != order[k - 1];
    CHECK(switches >= steps);
}

TEST_CASE("1000 fibers on two threads with random yields and sleeps see only their own transaction") {
    constexpr int fibers = 1000;
    constexpr int threads = 2;
    constexpr int steps = 8;
    shared_database database(fibers);

    std::array<boost::asio::io_context, threads> ios{boost::asio::io_context(1), boost::asio::io_context(1)};
    std::array<fiber::context*, threads> thread_defaults{};
    std::array<bool, threads> default_clean_after_run{};

    std::atomic<int> mixups{0};
    std::atomic<long> checks{0};
    std::atomic<int> finished{0};
    std::atomic<int> max_live{0};
    std::atomic<int> live{0};
    std::mutex failures_mutex;
    std::vector<std::string> failures;  // the first few mix-ups and every fiber error

    const auto report = [&](std::string text) {
        std::lock_guard lock(failures_mutex);
        if (failures.size() < 20) failures.push_back(std::move(text));
    };

    for (int f = 0; f < fibers; ++f) {
        const int home = f % threads;  // round-robin, as the server hands out connections
        fiber::spawn_fiber(
            ios[home],
            [&, f, home] {
                std::mt19937 rng(static_cast<std::uint32_t>(f) * 7919u + 17u);
                const auto suspend = [&] {
                    if (rng() % 2 == 0) {
                        fiber::current().yield();
                    } else {
                        fiber::current().sleep_for(std::chrono::microseconds(rng() % 1000));
                    }
                };
                const std::int64_t user = 100 + f;
                auto scope = begin(database.db, user, readonly_with_fiber(f));
                fiber::context* const mine = &fiber::current();
                const int now_live = ++live;
                for (int seen = max_live.load(); now_live > seen && !max_live.compare_exchange_weak(seen, now_live);) {
                }

                const auto verify = [&](const char* where, int step, std::int64_t expected_user, std::size_t depth,
                                        bool expect_step) {
                    ++checks;
                    fiber::context& thread_default = *thread_defaults[home];
                    const transaction* txn = current_or_null();
                    const bool ok = &fiber::current() == mine && &running_thread_default() == &thread_default &&
                                    txn != nullptr && txn->user() == expected_user &&
                                    txn->context().value("fiber", -1) == f &&
                                    (!expect_step || txn->context().value("step", -1) == step) &&
                                    (expect_step || !txn->context().contains("step")) &&
                                    fiber_state().stack().size() == depth && fiber_state(thread_default).stack().empty() &&
                                    fiber_state(thread_default).tasks().empty();
                    if (!ok) {
                        ++mixups;
                        report("fiber " + std::to_string(f) + " step " + std::to_string(step) + " at " + where +
                               ": user " + (txn ? std::to_string(txn->user()) : "none") + ", context " +
                               (txn ? txn->context().dump() : "none") + ", stack " +
                               std::to_string(fiber_state().stack().size()));
                    }
                };

                verify("start", 0, user, 1, false);
                for (int step = 0; step < steps; ++step) {
                    suspend();
                    verify("top", step, user, 1, false);
                    {
                        auto context = set_context({{"step", step}});
                        suspend();
                        verify("set_context", step, user, 1, true);
                        auto as_other_user = set_user(user + fibers);
                        suspend();
                        verify("set_user", step, user + fibers, 1, true);
                        auto second_reference = set_current_transaction(current());
                        suspend();
                        verify("reference", step, user + fibers, 2, true);
                        if (owner_of(f) != f) {
                            ++mixups;
                            report("fiber " + std::to_string(f) + " read another row");
                        }
                    }
                    suspend();
                    verify("restored", step, user, 1, false);
                }
                --live;
                scope.close(true);
                if (current_or_null() != nullptr || &fiber::current() != mine) {
                    ++mixups;
                    report("fiber " + std::to_string(f) + ": stack not empty after its transaction ended");
                }
                ++finished;
            },
            [&, f](std::exception_ptr error) {
                if (error) report("fiber " + std::to_string(f) + " failed: " + describe_exception(error));
            });
    }

    std::vector<std::thread> runners;
    for (int t = 0; t < threads; ++t) {
        runners.emplace_back([&, t] {
            thread_defaults[t] = &fiber::current();  // nothing installed outside handlers
            ios[t].run();
            default_clean_after_run[t] = &fiber::current() == thread_defaults[t] &&
                                         fiber_state(*thread_defaults[t]).stack().empty() &&
                                         fiber_state(*thread_defaults[t]).tasks().empty();
        });
    }
    for (auto& runner : runners) runner.join();

    for (const auto& failure : failures) MESSAGE(failure);
    MESSAGE("checks: " << checks.load() << ", most fibers inside a transaction at once: " << max_live.load());
    REQUIRE(mixups.load() == 0);
    REQUIRE(finished.load() == fibers);
    REQUIRE(failures.empty());
    CHECK(checks.load() == static_cast<long>(fibers) * (1 + 5 * steps));
    CHECK(max_live.load() > 100);  // the fibers really overlapped inside their transactions
    CHECK(default_clean_after_run[0]);
    CHECK(default_clean_after_run[1]);
    CHECK(database.db->in_use() == 0);
}

TEST_CASE("a fiber's sleep suspends only that fiber and not its thread") {
    boost::asio::io_context io(1);
    const auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration sleeper_done{};
    std::chrono::steady_clock::duration worker_done{};
    int worker_turns = 0;
    fiber::spawn_fiber(io, [&] {
        fiber::current().sleep_for(std::chrono::milliseconds(50));
        sleeper_done = std::chrono::steady_clock::now() - start;
    });
    fiber::spawn_fiber(io, [&] {
        for (; worker_turns < 100; ++worker_turns) fiber::current().yield();
        worker_done = std::chrono::steady_clock::now() - start;
    });
    io.run();
    CHECK(worker_turns == 100);
    CHECK(sleeper_done >= std::chrono::milliseconds(50));
    CHECK(worker_done < sleeper_done);
}

TEST_CASE("an exception thrown by a fiber body reaches its completion handler") {
    boost::asio::io_context io(1);
    std::exception_ptr caught;
    int calls = 0;
    fiber::spawn_fiber(
        io,
        [] {
            fiber::current().yield();
            throw std::runtime_error("boom in fiber");
        },
        [&](std::exception_ptr error) {
            caught = error;
            ++calls;
        });
    CHECK_NOTHROW(io.run());
    CHECK(calls == 1);
    REQUIRE(caught);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(caught), "boom in fiber", std::runtime_error);
}

TEST_CASE("the default fiber completion logs the exception instead of swallowing it") {
    std::vector<std::string> logged;
    std::mutex logged_mutex;
    scoped_log_sink capture([&](log_level, std::string_view message) {
        std::lock_guard lock(logged_mutex);
        logged.emplace_back(message);
    });
    boost::asio::io_context io(1);
    fiber::spawn_fiber(io, [] {
        fiber::current().sleep_for(std::chrono::milliseconds(1));
        throw std::runtime_error("lost exception");
    });
    CHECK_NOTHROW(io.run());
    bool found = false;
    for (const auto& message : logged) found = found || message.find("lost exception") != std::string::npos;
    CHECK(found);
}

TEST_CASE("run_in_fiber runs the body in its own fiber and rethrows its exception into the test") {
    fiber::context& thread_default = fiber::current();
    CHECK(fiber::current_yield() == nullptr);
    const bool own_context = test::run_in_fiber([&] {
        return &fiber::current() != &thread_default && fiber::current_yield() != nullptr;
    });
    CHECK(own_context);
    CHECK(test::run_in_fiber([] { return 7; }) == 7);
    CHECK_THROWS_WITH_AS(test::run_in_fiber([] { throw std::invalid_argument("from the fiber"); }), "from the fiber",
                         std::invalid_argument);
    CHECK(&fiber::current() == &thread_default);
}

TEST_CASE("a fiber body that returns with a transaction reference left on its stack fails") {
    CHECK_THROWS_AS(test::run_in_fiber([] { fiber_state().stack().push_back(std::make_shared<transaction>()); }),
                    std::logic_error);
}

TEST_CASE("destroying an io_context with a suspended fiber unwinds it inside its own context without aborting") {
    shared_database database(1);
    fiber::context& thread_default = fiber::current();
    const void* mine = nullptr;
    const void* context_at_unwind = nullptr;
    std::size_t stack_at_unwind = 99;
    bool guard_ran = false;
    bool resumed = false;
    bool completion_called = false;
    {
        auto io = std::make_unique<boost::asio::io_context>(1);
        fiber::spawn_fiber(
            *io,
            [&] {
                struct guard {
                    bool& ran;
                    const void*& context;
                    std::size_t& stack;
                    ~guard() {
                        ran = true;
                        context = &fiber::current();
                        stack = fiber_state().stack().size();
                    }
                } on_unwind{guard_ran, context_at_unwind, stack_at_unwind};
                auto scope = begin(database.db, 1, readonly_with_fiber(0));
                mine = &fiber::current();
                fiber::current().sleep_for(std::chrono::hours(1));
                resumed = true;
            },
            [&](std::exception_ptr) { completion_called = true; });
        io->poll();  // run the fiber up to its sleep
        REQUIRE(mine != nullptr);
        CHECK(database.db->in_use() == 1);
        CHECK_NOTHROW(io.reset());
    }
    CHECK(guard_ran);
    CHECK_FALSE(resumed);
    CHECK_FALSE(completion_called);  // unwinding is not completion
    CHECK(context_at_unwind == mine);  // destructors on the unwinding fiber see its context...
    CHECK(stack_at_unwind == 0);        // ...so the transaction scope popped its own stack
    CHECK(&fiber::current() == &thread_default);
    CHECK(fiber_state(thread_default).stack().empty());
    CHECK(database.db->in_use() == 0);  // the transaction was rolled back and its connection returned
}

TEST_CASE("a suspended fiber being destroyed sees forced_unwind at its suspension point and must let it pass") {
    bool saw_forced_unwind = false;
    bool swallowed = false;
    {
        boost::asio::io_context io(1);
        fiber::spawn_fiber(io, [&] {
            // The pattern every catch (...) on a fiber path must follow.
            try {
                fiber::current().sleep_for(std::chrono::hours(1));
            } catch (...) {
                saw_forced_unwind = fiber::is_unwinding(std::current_exception());
                fiber::rethrow_if_unwinding();
                swallowed = true;
            }
        });
        io.poll();
    }
    CHECK(saw_forced_unwind);
    CHECK_FALSE(swallowed);
}

}  // TEST_SUITE

TEST_CASE("waiting for a readable socket suspends only that fiber; the fd is not closed") {
    boost::asio::io_context io(1);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::vector<std::string> order;
    fiber::spawn_fiber(io, [&] {
        fiber::current().wait_readable(fds[0]);
        order.push_back("readable");
        char byte = 0;
        CHECK(::read(fds[0], &byte, 1) == 1);
        CHECK(byte == 'x');
    });
    fiber::spawn_fiber(io, [&] {
        order.push_back("writer runs while the reader waits");
        fiber::current().sleep_for(std::chrono::milliseconds(5));
        CHECK(::write(fds[1], "x", 1) == 1);
    });
    io.run();
    CHECK(order == std::vector<std::string>{"writer runs while the reader waits", "readable"});
    // The descriptor was released, not closed: the fd still works.
    CHECK(::write(fds[1], "y", 1) == 1);
    char byte = 0;
    CHECK(::read(fds[0], &byte, 1) == 1);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("outside fibers wait_readable polls the thread") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    CHECK(::write(fds[1], "z", 1) == 1);
    fiber::current().wait_readable(fds[0]);  // returns at once: data is there
    char byte = 0;
    CHECK(::read(fds[0], &byte, 1) == 1);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("a fiber waker suspends only its fiber until another thread wakes it, or times out") {
    boost::asio::io_context io(1);
    std::shared_ptr<db::waker> waker;
    std::atomic<bool> made{false};
    bool woken = false;
    bool timed_out_result = true;
    std::chrono::steady_clock::duration waited{};
    int other_turns = 0;
    fiber::spawn_fiber(io, [&] {
        waker = fiber::current().make_waker();
        made = true;
        const auto start = std::chrono::steady_clock::now();
        woken = waker->wait(std::chrono::seconds(10));
        waited = std::chrono::steady_clock::now() - start;
        // A waker nobody wakes returns false after its timeout.
        timed_out_result = fiber::current().make_waker()->wait(std::chrono::milliseconds(5));
    });
    fiber::spawn_fiber(io, [&] {
        for (; other_turns < 50; ++other_turns) fiber::current().yield();
    });
    std::thread other([&] {
        while (!made) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        waker->wake();
        waker->wake();  // the first call counts
    });
    io.run();
    other.join();
    CHECK(woken);
    CHECK(waited >= std::chrono::milliseconds(20));
    CHECK(waited < std::chrono::seconds(5));
    CHECK(other_turns == 50);
    CHECK_FALSE(timed_out_result);
    // Woken before waiting: the wait returns at once.
    bool early = false;
    fiber::spawn_fiber(io, [&] {
        auto w = fiber::current().make_waker();
        w->wake();
        early = w->wait(std::chrono::seconds(10));
    });
    io.restart();
    io.run();
    CHECK(early);
}

TEST_CASE("an SQLite writer that hands the write lock to a fiber of its own thread lets it run first") {
    test::temp_dir dir;
    auto backend = db::open_backend("sqlite://" + dir.string() + "?busy_wait_ms=5000", fiber_wait_hooks());
    backend->create("handover");
    auto db = backend->open("handover");
    {
        auto conn = db->acquire();
        conn->execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)");
        conn.return_to_pool();
    }
    boost::asio::io_context io(1);
    std::vector<std::string> events;
    fiber::spawn_fiber(io, [&] {
        auto conn = db->acquire();
        conn->begin({});
        conn->execute("INSERT INTO t (who) VALUES ('first')");
        fiber::current().yield();  // the second writer queues for the lock meanwhile
        conn->commit();
        events.emplace_back("first: after commit");
        conn.return_to_pool();
    });
    fiber::spawn_fiber(io, [&] {
        auto conn = db->acquire();
        conn->begin({});  // waits for the first writer's turn
        events.emplace_back("second: began");
        conn->execute("INSERT INTO t (who) VALUES ('second')");
        conn->commit();
        conn.return_to_pool();
    });
    io.run();
    // The lock went to the waiting writer before the first one went on with
    // its own work (its response, on a server).
    CHECK(events == std::vector<std::string>{"second: began", "first: after commit"});
    auto conn = db->acquire();
    CHECK(conn->execute("SELECT count(*) FROM t").rows.at(0).at(0) == db::value(std::int64_t{2}));
    conn.return_to_pool();
}
