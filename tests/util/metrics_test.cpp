// util/metrics.hpp: sharded counters summed at render, histogram buckets,
// collectors, the text format's escaping.
#include "util/metrics.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using namespace atrium;

TEST_CASE("metrics: a counter's shards add up across threads") {
    auto& c = metrics::register_counter("atrium_test_things_total", "Things.", {{"kind", "a"}});
    CHECK(&c == &metrics::register_counter("atrium_test_things_total", "Things.", {{"kind", "a"}}));
    const auto before = c.value();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back([&] {
        for (int i = 0; i < 10000; ++i) c.add();
    });
    for (auto& t : threads) t.join();
    CHECK(c.value() == before + 80000);
    const std::string text = metrics::render();
    CHECK(text.find("# TYPE atrium_test_things_total counter\n") != std::string::npos);
    CHECK(text.find("atrium_test_things_total{kind=\"a\"} " + std::to_string(before + 80000) + "\n") != std::string::npos);
}

TEST_CASE("metrics: histogram buckets are cumulative, +Inf equals the count") {
    auto& h = metrics::register_histogram("atrium_test_seconds", "Seconds.", {}, {0.1, 1});
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    const auto snap = h.read();
    REQUIRE(snap.cumulative.size() == 3);
    CHECK(snap.cumulative[0] == 1);
    CHECK(snap.cumulative[1] == 2);
    CHECK(snap.cumulative[2] == 3);
    CHECK(snap.count == 3);
    CHECK(snap.sum == doctest::Approx(5.55));
    const std::string text = metrics::render();
    CHECK(text.find("atrium_test_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
    CHECK(text.find("atrium_test_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(text.find("atrium_test_seconds_count 3\n") != std::string::npos);
}

TEST_CASE("metrics: disabled recording adds nothing") {
    auto& c = metrics::register_counter("atrium_test_off_total", "Off.");
    metrics::set_enabled(false);
    c.add();
    metrics::set_enabled(true);
    CHECK(c.value() == 0);
}

TEST_CASE("metrics: collectors write one block per family and go away with their handle") {
    {
        metrics::collector_handle one([](metrics::writer& w) {
            w.family("atrium_test_pool", "gauge", "Pool.");
            w.sample("atrium_test_pool", {{"database", "a\"b"}}, 1);
        });
        metrics::collector_handle two([](metrics::writer& w) {
            w.family("atrium_test_other", "gauge", "Other.");
            w.sample("atrium_test_other", 7);
            w.family("atrium_test_pool", "gauge", "Pool.");
            w.sample("atrium_test_pool", {{"database", "c"}}, 2);
        });
        const std::string text = metrics::render();
        CHECK(text.find("atrium_test_pool{database=\"a\\\"b\"} 1\natrium_test_pool{database=\"c\"} 2\n") !=
              std::string::npos);
        CHECK(text.find("# TYPE atrium_test_pool gauge") == text.rfind("# TYPE atrium_test_pool gauge"));
    }
    CHECK(metrics::render().find("atrium_test_pool") == std::string::npos);
    CHECK(metrics::resident_memory_bytes() > 0);
}
