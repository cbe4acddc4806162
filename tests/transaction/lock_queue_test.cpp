// The in-process queue in front of start-time table locks (transaction/lock_queue.hpp).

#include "transaction/lock_queue.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace atrium;
using namespace std::chrono_literals;

TEST_SUITE("lock queue") {

TEST_CASE("lock queue: the first caller gets the turn at once; a second waits until it is released") {
    auto first = wait_for_lock_turn("db\nt", 0ns);
    REQUIRE(first);
    CHECK_FALSE(wait_for_lock_turn("db\nt", 20ms));        // bounded: nullptr after the wait
    CHECK(lock_turn_waiters("db\nt") == 0);                 // the one that gave up left the queue
    CHECK(wait_for_lock_turn("db\nother", 0ns) != nullptr);  // keys are independent
    std::atomic<bool> got{false};
    std::thread waiter([&] { got = wait_for_lock_turn("db\nt", 5s) != nullptr; });
    while (lock_turn_waiters("db\nt") == 0) std::this_thread::sleep_for(1ms);
    CHECK_FALSE(got.load());
    first.reset();
    waiter.join();
    CHECK(got.load());
    CHECK(wait_for_lock_turn("db\nt", 0ns) != nullptr);  // free again once everyone is done
}

TEST_CASE("lock queue: waiters are served one at a time, in arrival order") {
    auto holder = wait_for_lock_turn("db\nfifo", 0ns);
    REQUIRE(holder);
    std::mutex mutex;
    std::vector<int> order;
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto turn = wait_for_lock_turn("db\nfifo", 10s);
            REQUIRE(turn);
            most = std::max(most.load(), ++inside);
            {
                std::lock_guard lock(mutex);
                order.push_back(i);
            }
            std::this_thread::sleep_for(2ms);  // holds the turn a while: nobody else may get in meanwhile
            --inside;
        });
        while (lock_turn_waiters("db\nfifo") < static_cast<std::size_t>(i + 1)) std::this_thread::sleep_for(1ms);
    }
    holder.reset();
    for (auto& t : threads) t.join();
    CHECK(order == std::vector<int>{0, 1, 2, 3});
    CHECK(most.load() == 1);
}

}  // TEST_SUITE
