// The fiber context (fiber/context.hpp, the transaction state in its slot:
// transaction/fiber_context.hpp) without any fiber runtime:
// the thread default, installing and restoring contexts, per-thread defaults,
// and the state (stack, tasks, manager, waiter) that belongs to a context.

#include "transaction/fiber_context.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace atrium;

namespace {

/// Records what the context asks of its waiter.
struct recording_waiter final : fiber::waiter {
    std::vector<std::chrono::nanoseconds> sleeps;
    int yields = 0;
    void sleep_for(std::chrono::nanoseconds duration) override { sleeps.push_back(duration); }
    void yield() override { ++yields; }
};

/// Installs nothing (the thread default) for the scope, whatever was installed before.
struct default_installed {
    fiber::context* previous = fiber::exchange_current(nullptr);
    ~default_installed() { fiber::exchange_current(previous); }
};

}  // namespace

TEST_SUITE("fiber_context") {

TEST_CASE("fiber::current returns the same thread default context outside fibers") {
    default_installed none;
    fiber::context& first = fiber::current();
    fiber::context& second = fiber::current();
    CHECK(&first == &second);
    CHECK(first.waiter() != nullptr);  // the thread default blocks the thread
    // Nothing is installed: exchanging reports nullptr, and installing nullptr keeps the default.
    CHECK(fiber::exchange_current(nullptr) == nullptr);
    CHECK(&fiber::current() == &first);
}

TEST_CASE("fiber::context_scope installs a context and restores the previous one when nested") {
    default_installed none;
    fiber::context& thread_default = fiber::current();
    fiber::context outer_context;
    fiber::context inner_context;
    {
        fiber::context_scope outer(outer_context);
        CHECK(&fiber::current() == &outer_context);
        {
            fiber::context_scope inner(inner_context);
            CHECK(&fiber::current() == &inner_context);
            {
                fiber::context_scope again(outer_context);  // re-installing the same context nests too
                CHECK(&fiber::current() == &outer_context);
            }
            CHECK(&fiber::current() == &inner_context);
        }
        CHECK(&fiber::current() == &outer_context);
    }
    CHECK(&fiber::current() == &thread_default);
}

TEST_CASE("fiber::exchange_current returns the previously installed context") {
    default_installed none;
    fiber::context a;
    fiber::context b;
    CHECK(fiber::exchange_current(&a) == nullptr);
    CHECK(&fiber::current() == &a);
    CHECK(fiber::exchange_current(&b) == &a);
    CHECK(&fiber::current() == &b);
    CHECK(fiber::exchange_current(nullptr) == &b);
}

TEST_CASE("two threads have distinct default contexts and do not share their state") {
    default_installed none;
    fiber::context& main_default = fiber::current();
    const auto main_tasks_before = fiber_state(main_default).tasks().size();

    fiber::context* other_default = nullptr;
    bool other_saw_empty_state = false;
    bool other_default_stable = false;
    std::thread other([&] {
        fiber::context& mine = fiber::current();
        other_default = &mine;
        other_saw_empty_state = fiber_state(mine).stack().empty() && fiber_state(mine).tasks().empty();
        fiber_state(mine).tasks().push_back(42);  // must not show up in the main thread's default
        other_default_stable = &fiber::current() == &mine;
    });
    other.join();

    CHECK(other_default != nullptr);
    CHECK(other_default != &main_default);
    CHECK(other_saw_empty_state);
    CHECK(other_default_stable);
    CHECK(fiber_state(main_default).tasks().size() == main_tasks_before);
}

TEST_CASE("a context installed on one thread is not current on another thread") {
    fiber::context installed_here;
    fiber::context_scope scope(installed_here);
    fiber::context* seen_there = nullptr;
    std::thread other([&] { seen_there = &fiber::current(); });
    other.join();
    CHECK(seen_there != &installed_here);
    CHECK(&fiber::current() == &installed_here);
}

TEST_CASE("the transaction stack and the task queue belong to the context") {
    default_installed none;
    fiber::context& thread_default = fiber::current();
    const auto default_stack = fiber_state(thread_default).stack().size();
    const auto default_tasks = fiber_state(thread_default).tasks().size();

    fiber::context a;
    fiber::context b;
    auto txn = std::make_shared<transaction>();  // unstarted: only a stack entry here
    {
        fiber::context_scope in_a(a);
        fiber_state().stack().push_back(txn);
        fiber_state().tasks().push_back(1);
        fiber_state().tasks().push_back(2);
        CHECK(current_or_null() == txn.get());
        {
            fiber::context_scope in_b(b);
            CHECK(fiber_state().stack().empty());
            CHECK(fiber_state().tasks().empty());
            CHECK(current_or_null() == nullptr);
            CHECK_THROWS(current());
            fiber_state().tasks().push_back(3);
        }
        CHECK(current_or_null() == txn.get());
        CHECK(&current() == txn.get());
        CHECK(fiber_state().tasks() == std::vector<std::int64_t>{1, 2});
    }
    CHECK(fiber_state(a).stack().size() == 1);
    CHECK(fiber_state(b).tasks() == std::vector<std::int64_t>{3});
    CHECK(fiber_state(thread_default).stack().size() == default_stack);
    CHECK(fiber_state(thread_default).tasks().size() == default_tasks);
    CHECK(current_or_null() == (default_stack ? fiber_state(thread_default).stack().back().get() : nullptr));
    fiber_state(a).stack().clear();
    CHECK(txn.use_count() == 1);
}

TEST_CASE("each context has its own default transaction manager created once") {
    fiber::context a;
    fiber::context b;
    auto* first = &fiber_state(a).manager();
    CHECK(&fiber_state(a).manager() == first);
    CHECK(&fiber_state(b).manager() != first);
}

TEST_CASE("sleep_for and yield go through the context's waiter") {
    recording_waiter waiter;
    fiber::context context(&waiter);
    CHECK(context.waiter() == &waiter);
    {
        fiber::context_scope scope(context);
        fiber::current().sleep_for(std::chrono::milliseconds(5));
        fiber::current().yield();
        fiber::current().yield();
    }
    REQUIRE(waiter.sleeps.size() == 1);
    CHECK(waiter.sleeps[0] == std::chrono::milliseconds(5));
    CHECK(waiter.yields == 2);
}

TEST_CASE("a context without a waiter blocks the thread when it sleeps") {
    fiber::context context;
    REQUIRE(context.waiter() != nullptr);
    const auto start = std::chrono::steady_clock::now();
    context.sleep_for(std::chrono::milliseconds(20));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(20));
    context.yield();  // returns
}

}  // TEST_SUITE
