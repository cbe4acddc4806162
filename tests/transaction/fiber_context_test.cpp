// The fiber context (transaction/fiber_context.hpp) without any fiber runtime:
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
struct recording_waiter final : fiber_waiter {
    std::vector<std::chrono::nanoseconds> sleeps;
    int yields = 0;
    void sleep_for(std::chrono::nanoseconds duration) override { sleeps.push_back(duration); }
    void yield() override { ++yields; }
};

/// Installs nothing (the thread default) for the scope, whatever was installed before.
struct default_installed {
    fiber_context* previous = exchange_current_fiber(nullptr);
    ~default_installed() { exchange_current_fiber(previous); }
};

}  // namespace

TEST_SUITE("fiber_context") {

TEST_CASE("current_fiber returns the same thread default context outside fibers") {
    default_installed none;
    fiber_context& first = current_fiber();
    fiber_context& second = current_fiber();
    CHECK(&first == &second);
    CHECK(first.waiter() != nullptr);  // the thread default blocks the thread
    // Nothing is installed: exchanging reports nullptr, and installing nullptr keeps the default.
    CHECK(exchange_current_fiber(nullptr) == nullptr);
    CHECK(&current_fiber() == &first);
}

TEST_CASE("fiber_context_scope installs a context and restores the previous one when nested") {
    default_installed none;
    fiber_context& thread_default = current_fiber();
    fiber_context outer_context;
    fiber_context inner_context;
    {
        fiber_context_scope outer(outer_context);
        CHECK(&current_fiber() == &outer_context);
        {
            fiber_context_scope inner(inner_context);
            CHECK(&current_fiber() == &inner_context);
            {
                fiber_context_scope again(outer_context);  // re-installing the same context nests too
                CHECK(&current_fiber() == &outer_context);
            }
            CHECK(&current_fiber() == &inner_context);
        }
        CHECK(&current_fiber() == &outer_context);
    }
    CHECK(&current_fiber() == &thread_default);
}

TEST_CASE("exchange_current_fiber returns the previously installed context") {
    default_installed none;
    fiber_context a;
    fiber_context b;
    CHECK(exchange_current_fiber(&a) == nullptr);
    CHECK(&current_fiber() == &a);
    CHECK(exchange_current_fiber(&b) == &a);
    CHECK(&current_fiber() == &b);
    CHECK(exchange_current_fiber(nullptr) == &b);
}

TEST_CASE("two threads have distinct default contexts and do not share their state") {
    default_installed none;
    fiber_context& main_default = current_fiber();
    const auto main_tasks_before = main_default.tasks().size();

    fiber_context* other_default = nullptr;
    bool other_saw_empty_state = false;
    bool other_default_stable = false;
    std::thread other([&] {
        fiber_context& mine = current_fiber();
        other_default = &mine;
        other_saw_empty_state = mine.stack().empty() && mine.tasks().empty();
        mine.tasks().push_back(42);  // must not show up in the main thread's default
        other_default_stable = &current_fiber() == &mine;
    });
    other.join();

    CHECK(other_default != nullptr);
    CHECK(other_default != &main_default);
    CHECK(other_saw_empty_state);
    CHECK(other_default_stable);
    CHECK(main_default.tasks().size() == main_tasks_before);
}

TEST_CASE("a context installed on one thread is not current on another thread") {
    fiber_context installed_here;
    fiber_context_scope scope(installed_here);
    fiber_context* seen_there = nullptr;
    std::thread other([&] { seen_there = &current_fiber(); });
    other.join();
    CHECK(seen_there != &installed_here);
    CHECK(&current_fiber() == &installed_here);
}

TEST_CASE("the transaction stack and the task queue belong to the context") {
    default_installed none;
    fiber_context& thread_default = current_fiber();
    const auto default_stack = thread_default.stack().size();
    const auto default_tasks = thread_default.tasks().size();

    fiber_context a;
    fiber_context b;
    auto txn = std::make_shared<transaction>();  // unstarted: only a stack entry here
    {
        fiber_context_scope in_a(a);
        current_fiber().stack().push_back(txn);
        current_fiber().tasks().push_back(1);
        current_fiber().tasks().push_back(2);
        CHECK(current_or_null() == txn.get());
        {
            fiber_context_scope in_b(b);
            CHECK(current_fiber().stack().empty());
            CHECK(current_fiber().tasks().empty());
            CHECK(current_or_null() == nullptr);
            CHECK_THROWS(current());
            current_fiber().tasks().push_back(3);
        }
        CHECK(current_or_null() == txn.get());
        CHECK(&current() == txn.get());
        CHECK(current_fiber().tasks() == std::vector<std::int64_t>{1, 2});
    }
    CHECK(a.stack().size() == 1);
    CHECK(b.tasks() == std::vector<std::int64_t>{3});
    CHECK(thread_default.stack().size() == default_stack);
    CHECK(thread_default.tasks().size() == default_tasks);
    CHECK(current_or_null() == (default_stack ? thread_default.stack().back().get() : nullptr));
    a.stack().clear();
    CHECK(txn.use_count() == 1);
}

TEST_CASE("each context has its own default transaction manager created once") {
    fiber_context a;
    fiber_context b;
    auto* first = &a.manager();
    CHECK(&a.manager() == first);
    CHECK(&b.manager() != first);
}

TEST_CASE("sleep_for and yield go through the context's waiter") {
    recording_waiter waiter;
    fiber_context context(&waiter);
    CHECK(context.waiter() == &waiter);
    {
        fiber_context_scope scope(context);
        current_fiber().sleep_for(std::chrono::milliseconds(5));
        current_fiber().yield();
        current_fiber().yield();
    }
    REQUIRE(waiter.sleeps.size() == 1);
    CHECK(waiter.sleeps[0] == std::chrono::milliseconds(5));
    CHECK(waiter.yields == 2);
}

TEST_CASE("a context without a waiter blocks the thread when it sleeps") {
    fiber_context context;
    REQUIRE(context.waiter() != nullptr);
    const auto start = std::chrono::steady_clock::now();
    context.sleep_for(std::chrono::milliseconds(20));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(20));
    context.yield();  // returns
}

}  // TEST_SUITE
