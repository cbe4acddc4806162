// The bus's in-process side (server/bus_hub.hpp, server/bus_route.hpp, issue
// 22): positions after a last message, delivery by channel, parked wakers
// woken only by their channels, expiry, stop; the channels a subscriber gets.

#include "server/bus_hub.hpp"
#include "server/bus_route.hpp"

#include <doctest/doctest.h>

#include <atomic>

using namespace atrium::server;
using nlohmann::json;

namespace {

bus_entry entry(std::int64_t id, const std::string& channel, double created = 1000) {
    return {id, channel, json{{"message_id", id}}, created};
}

// A waker that records wake() (the hub never waits on it).
class counting_waker : public atrium::fiber::waker {
public:
    bool wait(std::chrono::nanoseconds) override { return woken > 0; }
    void wake() noexcept override { ++woken; }
    std::atomic<int> woken{0};
};

}  // namespace

TEST_CASE("bus hub: last_message null waits for new ones; a known id reads after it; an unknown one by id") {
    bus_hub hub(300, 100);
    hub.append({entry(1, "user:1"), entry(2, "client:a"), entry(3, "user:2"), entry(4, "user:1")}, 1000);
    const std::vector<std::string> mine{"user:1", "client:a"};
    CHECK_FALSE(hub.next(mine, hub.position_after(std::nullopt)));  // only new ones
    CHECK(hub.next(mine, hub.position_after(1))->id == 2);
    CHECK(hub.next(mine, hub.position_after(2))->id == 4);  // user:2's message is not ours
    CHECK_FALSE(hub.next(mine, hub.position_after(4)));
    CHECK(hub.next(mine, hub.position_after(0))->id == 1);    // older than the log: what follows by id
    CHECK_FALSE(hub.next(mine, hub.position_after(99)));      // newer than the log: nothing yet
    CHECK(hub.newest() == 4);
    // An id appended again (a feed's catch-up) is skipped.
    CHECK(hub.append({entry(4, "user:1"), entry(5, "user:1")}, 1000) == 1);
    CHECK(hub.size() == 5);
}

TEST_CASE("bus hub: a parked waker is woken by a message on one of its channels only, and forgotten") {
    bus_hub hub(300, 100);
    const std::vector<std::string> mine{"user:1", "client:a"};
    const auto position = hub.position_after(std::nullopt);
    auto waker = std::make_shared<counting_waker>();
    auto other = std::make_shared<counting_waker>();
    REQUIRE(hub.park(mine, position, waker));
    REQUIRE(hub.park({"user:2"}, position, other));
    CHECK(hub.parked() == 2);
    hub.append({entry(1, "user:3")}, 1000);
    CHECK(waker->woken == 0);
    hub.append({entry(2, "client:a")}, 1000);
    CHECK(waker->woken == 1);
    CHECK(other->woken == 0);
    CHECK(hub.next(mine, position)->id == 2);
    hub.unpark(mine, waker);
    CHECK(hub.parked() == 1);
    hub.append({entry(3, "user:1")}, 1000);
    CHECK(waker->woken == 1);  // forgotten
    // A message already there: nothing parks.
    CHECK_FALSE(hub.park(mine, position, std::make_shared<counting_waker>()));
    hub.stop();
    CHECK(other->woken == 1);  // the drain wakes everyone
    CHECK_FALSE(hub.park({"user:9"}, hub.position_after(std::nullopt), std::make_shared<counting_waker>()));
}

TEST_CASE("bus hub: messages leave after the retention or beyond the size cap") {
    bus_hub hub(300, 3);
    hub.append({entry(1, "c", 100), entry(2, "c", 1000)}, 1000);
    CHECK(hub.size() == 1);  // 1 was 900 s old
    hub.append({entry(3, "c", 1000), entry(4, "c", 1000), entry(5, "c", 1000)}, 1000);
    CHECK(hub.size() == 3);
    CHECK(hub.next({"c"}, hub.position_after(2))->id == 3);  // 2 left: read by id
    CHECK(hub.next({"c"}, 0)->id == 3);
}

TEST_CASE("bus channels: client:* as asked, never another user's, always the subscriber's own") {
    const auto channels =
        bus_channels(json::array({"client:abc", "user:2", "user:1", 42, "other", "client:abc", "client:def"}), 1);
    CHECK(channels == std::vector<std::string>{"user:1", "client:abc", "client:def"});
    CHECK(bus_channels(json::array(), 7) == std::vector<std::string>{"user:7"});
    json many = json::array();
    for (int i = 0; i < 500; ++i) many.push_back("client:" + std::to_string(i));
    CHECK(bus_channels(many, 1).size() <= 65);
}
