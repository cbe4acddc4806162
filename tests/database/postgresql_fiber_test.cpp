// PostgreSQL waits suspend the fiber, not the thread: the overlap test,
// socket watches and the pool's thread affinity.

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// The point of it all: waits suspend the fiber, not the thread

TEST_CASE("postgresql: 100 fibers each sleeping 0.1 s in PostgreSQL overlap on one thread") {
    constexpr int fibers = 100;
    pg_db f("?pool_size=110");

    auto run = [&] {
        std::atomic<int> done{0};
        std::vector<std::function<void()>> bodies;
        for (int i = 0; i < fibers; ++i) {
            bodies.push_back([&] {
                auto scope = atrium::begin(f.db, 0);
                scope->connection().execute("SELECT pg_sleep(0.1)");
                scope.close(true);
                ++done;
            });
        }
        const auto start = steady_clock::now();
        run_fibers(bodies);
        const auto elapsed = steady_clock::now() - start;
        REQUIRE(done == fibers);
        return std::chrono::duration<double>(elapsed).count();
    };

    // Cold: the pool opens 100 connections (a blocking ~3 ms libpq connect each).
    const double cold = run();
    CHECK(f.db->idle() == static_cast<std::size_t>(fibers));
    // Warm: the measure of overlap.
    const double warm = run();
    MESSAGE("100 fibers x SELECT pg_sleep(0.1) on one thread: " << warm << " s with a warm pool, " << cold
                                                                << " s cold (serial would be 10 s)");
    REQUIRE(warm < 1.5);
    CHECK(cold < 5.0);
}

// ---------------------------------------------------------------------------
// Socket watches and the pool's thread affinity

namespace {

// Runs `body` in a fiber on `io`, on a thread of its own (so that each io
// context is an event loop of another thread), until `io` runs out of work.
void run_on_own_thread(boost::asio::io_context& io, std::function<void()> body) {
    std::exception_ptr failure;
    std::thread runner([&] {
        io.restart();
        atrium::fiber::spawn_fiber(io, std::move(body), [&](std::exception_ptr error) { failure = error; });
        io.run();
    });
    runner.join();
    if (failure) std::rethrow_exception(failure);
}

// One statement that makes the fiber really wait for the server.
void wait_for_server(pg_connection& c) {
    c.begin({});
    c.execute("SELECT pg_sleep(0.005)");
    c.commit();
}

class fake_waker final : public waker {
public:
    explicit fake_waker(bool here) : here_(here) {}
    bool wait(std::chrono::nanoseconds) override { return false; }
    void wake() noexcept override {}
    bool resumes_on_this_thread() const noexcept override { return here_; }

private:
    bool here_;
};

std::list<std::shared_ptr<pg_pool::waiter>> queue_of(std::initializer_list<bool> on_this_thread) {
    std::list<std::shared_ptr<pg_pool::waiter>> waiters;
    for (bool here : on_this_thread) {
        waiters.push_back(std::make_shared<pg_pool::waiter>());
        waiters.back()->wake_up = std::make_shared<fake_waker>(here);
    }
    return waiters;
}

std::size_t position(const std::list<std::shared_ptr<pg_pool::waiter>>& waiters,
                     std::list<std::shared_ptr<pg_pool::waiter>>::const_iterator it) {
    return static_cast<std::size_t>(std::distance(waiters.begin(), it));
}

}  // namespace

TEST_CASE("postgresql: a connection's socket stays registered with the fiber's event loop between statements and uses") {
    pg_db f;
    boost::asio::io_context io(1);
    int first_pid = 0;
    int second_pid = 0;
    std::size_t watches_in_use = 0;
    std::size_t watches_idle = 0;
    run_on_own_thread(io, [&] {
        {
            pg_handle c{f.db->acquire()};
            for (int i = 0; i < 3; ++i) wait_for_server(*c);
            CHECK(c->watched_here());
            first_pid = c->backend_pid();
            watches_in_use = atrium::fiber::open_socket_watches(io);
        }
        pg_handle again{f.db->acquire()};
        wait_for_server(*again);
        second_pid = again->backend_pid();
        watches_idle = atrium::fiber::open_socket_watches(io);
    });
    CHECK(first_pid == second_pid);
    CHECK(watches_in_use == 1);  // one registration for all the waits of both uses
    CHECK(watches_idle == 1);
    dynamic_cast<pg_database&>(*f.db).close_idle();
    CHECK(atrium::fiber::open_socket_watches(io) == 0);  // closing the connection drops it
}

TEST_CASE("postgresql: the pool gives a thread the idle connection its event loop watches, not just the latest") {
    pg_db f("?pool_size=2");
    boost::asio::io_context a(1);
    boost::asio::io_context b(1);
    int pid_x = 0;
    int pid_y = 0;
    run_on_own_thread(a, [&] {
        pg_handle x{f.db->acquire()};
        pg_handle y{f.db->acquire()};
        wait_for_server(*x);
        wait_for_server(*y);
        pid_x = x->backend_pid();
        pid_y = y->backend_pid();
    });  // released y, then x: x is the latest
    REQUIRE(pid_x != pid_y);
    int on_b = 0;
    run_on_own_thread(b, [&] {
        pg_handle c{f.db->acquire()};  // nothing is watched by b: the latest
        wait_for_server(*c);
        CHECK(c->watched_here());
        on_b = c->backend_pid();
    });
    CHECK(on_b == pid_x);
    // Now x is the latest and watched by b; y is watched by a.
    int on_a = 0;
    run_on_own_thread(a, [&] {
        pg_handle c{f.db->acquire()};
        CHECK(c->watched_here());
        wait_for_server(*c);
        on_a = c->backend_pid();
    });
    CHECK(on_a == pid_y);
    int on_b_again = 0;
    run_on_own_thread(b, [&] {
        pg_handle c{f.db->acquire()};
        CHECK(c->watched_here());
        on_b_again = c->backend_pid();
    });
    CHECK(on_b_again == pid_x);
    CHECK(atrium::fiber::open_socket_watches(a) == 1);
    CHECK(atrium::fiber::open_socket_watches(b) == 1);
}

TEST_CASE("postgresql: a pooled connection whose event loop is gone is watched afresh where it is used next") {
    pg_db f("?pool_size=1");
    int first_pid = 0;
    {
        boost::asio::io_context gone(1);
        run_on_own_thread(gone, [&] {
            pg_handle c{f.db->acquire()};
            wait_for_server(*c);
            first_pid = c->backend_pid();
        });
    }  // the io_context goes first; the connection stays in the pool
    boost::asio::io_context next(1);
    int next_pid = 0;
    run_on_own_thread(next, [&] {
        pg_handle c{f.db->acquire()};
        CHECK_FALSE(c->watched_here());
        wait_for_server(*c);
        CHECK(c->watched_here());
        next_pid = c->backend_pid();
    });
    CHECK(next_pid == first_pid);
    CHECK(atrium::fiber::open_socket_watches(next) == 1);
}

TEST_CASE("postgresql: a release serves a waiter on its own thread a little early, never one waiter over and over") {
    SUBCASE("first come, first served among waiters of one kind") {
        auto mine = queue_of({true, true, true});
        CHECK(position(mine, pg_pool::next_waiter(mine)) == 0);
        auto others = queue_of({false, false, false});
        CHECK(position(others, pg_pool::next_waiter(others)) == 0);
    }
    SUBCASE("a waiter on this thread within eight places goes first; one further down does not") {
        auto near = queue_of({false, false, true, false});
        CHECK(position(near, pg_pool::next_waiter(near)) == 2);
        auto far = queue_of({false, false, false, false, false, false, false, false, false, false, true});
        CHECK(position(far, pg_pool::next_waiter(far)) == 0);
    }
    SUBCASE("a waiter overtaken twice is served next") {
        auto waiters = queue_of({false, true, true, true});
        auto first = pg_pool::next_waiter(waiters);
        CHECK(position(waiters, first) == 1);
        waiters.erase(first);
        auto second = pg_pool::next_waiter(waiters);
        CHECK(position(waiters, second) == 1);
        waiters.erase(second);
        CHECK(waiters.front()->passed_over == 2);
        CHECK(position(waiters, pg_pool::next_waiter(waiters)) == 0);
    }
}

TEST_CASE("postgresql: a read-only COMMIT goes when its connection goes idle, or with the first round trip of the waiter it goes to") {
    pg_db f("?pool_size=1");
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    pg_handle other{db2->acquire()};
    begin_options ro;
    ro.readonly = true;
    int pid = 0;

    // Released with nobody waiting: the COMMIT waits in the idle list for a
    // next user for about a millisecond, then the pool sends it.
    std::string state;
    std::string state_when_idle;
    std::string state_after_flush;
    atrium::test::run_in_fiber([&] {
        {
            pg_handle c{f.db->acquire()};
            pid = c->backend_pid();
            c->begin(ro);
            c->execute("SELECT count(*) FROM note");
            c->commit();
            CHECK(c->has_unsent_commit());
        }
        state_when_idle = activity_state(*other, pid);
        atrium::fiber::current().sleep_for(50ms);  // the flush runs on this event loop meanwhile
        for (int i = 0; i < 200 && (state_after_flush = activity_state(*other, pid)) != "idle"; ++i) {
            atrium::fiber::current().sleep_for(5ms);
        }
    });
    CHECK(state_when_idle == "idle in transaction");
    CHECK(state_after_flush == "idle");
    // Without an event loop (thread waits) it is sent on the way to the idle list.
    {
        pg_handle c{f.db->acquire()};
        c->begin(ro);
        c->execute("SELECT count(*) FROM note");
        c->commit();
    }
    for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) std::this_thread::sleep_for(5ms);
    CHECK(state == "idle");

    // Released to a waiter: the waiter's first statement carries it.
    boost::asio::io_context io(1);
    bool waiter_saw_unsent = false;
    std::string state_at_handover;
    value waiter_count;
    atrium::fiber::spawn_fiber(io, [&] {
        pg_handle c{f.db->acquire()};
        c->begin(ro);
        c->execute("SELECT count(*) FROM note");
        c->commit();
        // The waiter queues while this fiber holds the only connection.
        atrium::fiber::current().sleep_for(20ms);
        REQUIRE(f.db->in_use() == 1);
    });
    atrium::fiber::spawn_fiber(io, [&] {
        atrium::fiber::current().sleep_for(5ms);
        pg_handle c{f.db->acquire()};  // queued until the first fiber releases
        waiter_saw_unsent = c->has_unsent_commit();
        state_at_handover = activity_state(*other, pid);
        c->begin(ro);
        waiter_count = c->execute("SELECT count(*) FROM note").rows.at(0).at(0);
        c->commit();
    });
    io.run();
    CHECK(waiter_saw_unsent);
    CHECK(state_at_handover == "idle in transaction");
    CHECK(waiter_count == value{std::int64_t{0}});
    for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) std::this_thread::sleep_for(5ms);
    CHECK(state == "idle");  // the waiter's own COMMIT went when it released to the idle list
}
