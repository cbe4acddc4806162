// fiber::drain(): an io_context is run until its fibers have ended before it
// is destroyed, so none is destroyed while suspended. Links the fiber runtime
// alone (no transaction, database or server library).

#include "fiber/context.hpp"
#include "fiber/runtime.hpp"
#include "fiber/unwind.hpp"

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <exception>

using namespace atrium;
using namespace std::chrono_literals;

namespace {

/// Sets its flag when destroyed (a fiber's stack object).
struct destroyed_flag {
    bool& flag;
    ~destroyed_flag() { flag = true; }
};

}  // namespace

TEST_SUITE("fiber drain") {

TEST_CASE("a fiber suspended on a timer finishes its body when the io_context is drained") {
    bool finished = false;
    bool destroyed = false;
    bool unwound = false;
    std::exception_ptr failure;
    bool completed = false;
    {
        boost::asio::io_context io(1);
        fiber::spawn_fiber(
            io,
            [&] {
                destroyed_flag on_exit{destroyed};
                try {
                    fiber::current().sleep_for(20ms);
                } catch (...) {
                    unwound = fiber::is_unwinding(std::current_exception());
                    throw;
                }
                finished = true;
            },
            [&](std::exception_ptr error) {
                failure = error;
                completed = true;
            });
        io.poll();  // the fiber starts and suspends on its timer
        REQUIRE(fiber::live_fibers(io) == 1);
        CHECK_FALSE(finished);
        CHECK(fiber::drain(io, 10s) == 0);
        CHECK(fiber::live_fibers(io) == 0);
        CHECK(finished);  // without the drain, the destruction below would unwind it instead
        CHECK(destroyed);
    }
    CHECK_FALSE(unwound);
    CHECK(completed);
    CHECK(failure == nullptr);
}

TEST_CASE("drain stops at its limit; a fiber still suspended is unwound by the io_context's destruction") {
    bool finished = false;
    bool destroyed = false;
    bool unwound = false;
    {
        boost::asio::io_context io(1);
        fiber::spawn_fiber(io, [&] {
            destroyed_flag on_exit{destroyed};
            try {
                fiber::current().sleep_for(1h);
            } catch (...) {
                unwound = fiber::is_unwinding(std::current_exception());
                throw;
            }
            finished = true;
        });
        io.poll();
        const auto start = std::chrono::steady_clock::now();
        CHECK(fiber::drain(io, 10ms) == 1);
        CHECK(std::chrono::steady_clock::now() - start < 1h);
        CHECK_FALSE(destroyed);
    }
    CHECK_FALSE(finished);
    CHECK(unwound);
    CHECK(destroyed);
}

TEST_CASE("drain returns at once when no fiber is alive, also on a stopped io_context") {
    boost::asio::io_context io(1);
    CHECK(fiber::drain(io, 1h) == 0);
    bool ran = false;
    fiber::spawn_fiber(io, [&] { ran = true; });
    io.stop();
    CHECK(fiber::drain(io, 10s) == 0);  // restarts the stopped io_context
    CHECK(ran);
}

}  // TEST_SUITE
