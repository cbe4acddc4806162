// The in-process cache of validated sessions (server/dispatch/session_cache.hpp).
#include "server/dispatch/session_cache.hpp"

#include <doctest/doctest.h>


using atrium::server::session_cache;
using namespace std::chrono_literals;

TEST_SUITE("dispatch") {

TEST_CASE("session cache: nothing is cached for a database whose invalidations are not heard") {
    session_cache cache;
    cache.remember("db", 1, "k", session_cache::clock::now() + 1h);
    CHECK_FALSE(cache.valid("db", 1, "k"));
    cache.enable("db");
    CHECK_FALSE(cache.valid("db", 1, "k"));  // remembered while disabled: dropped
    cache.remember("db", 1, "k", session_cache::clock::now() + 1h);
    CHECK(cache.valid("db", 1, "k"));
    CHECK_FALSE(cache.valid("db", 1, "other key"));
    CHECK_FALSE(cache.valid("other db", 1, "k"));
    cache.disable("db");  // the listener was lost
    CHECK_FALSE(cache.valid("db", 1, "k"));
    cache.enable("db");
    CHECK_FALSE(cache.valid("db", 1, "k"));  // forgotten, not just hidden
}

TEST_CASE("session cache: an entry is valid only under the change counter value it was remembered with") {
    session_cache cache;
    cache.enable("db");
    cache.remember("db", 1, "k", session_cache::clock::now() + 1h, 7);
    CHECK(cache.valid("db", 1, "k", 7));
    CHECK_FALSE(cache.valid("db", 1, "k", 8));  // a session was deleted since
    CHECK_FALSE(cache.valid("db", 1, "k"));
    cache.remember("db", 1, "k", session_cache::clock::now() + 1h, 8);  // checked again
    CHECK(cache.valid("db", 1, "k", 8));
}

TEST_CASE("session cache: an entry never outlives the session's expiry nor the ttl") {
    // A clock moved by hand: the test sees the exact instants, not the scheduler's.
    auto now = session_cache::clock::now();
    session_cache cache(1s, [&now] { return now; });
    cache.enable("db");
    cache.remember("db", 1, "expiring", now + 50ms);
    cache.remember("db", 2, "ttl", now + 1h);
    CHECK(cache.valid("db", 1, "expiring"));
    now += 100ms;
    CHECK_FALSE(cache.valid("db", 1, "expiring"));
    CHECK(cache.valid("db", 2, "ttl"));
    now += 1s;
    CHECK_FALSE(cache.valid("db", 2, "ttl"));
}

TEST_CASE("session cache: forgetting a user drops all of that user's sessions, only in that database") {
    session_cache cache;
    cache.enable("a");
    cache.enable("b");
    const auto later = session_cache::clock::now() + 1h;
    cache.remember("a", 1, "k1", later);
    cache.remember("a", 1, "k2", later);
    cache.remember("a", 2, "k3", later);
    cache.remember("b", 1, "k4", later);
    cache.forget_user("a", 1);
    CHECK_FALSE(cache.valid("a", 1, "k1"));
    CHECK_FALSE(cache.valid("a", 1, "k2"));
    CHECK(cache.valid("a", 2, "k3"));
    CHECK(cache.valid("b", 1, "k4"));
}

}
