#pragma once
/// @file
/// @brief Process metrics for GET /metrics (Prometheus text format 0.0.4).
///
/// Counters and histograms are sharded: each thread adds to its own
/// cache-line-padded slot with a relaxed atomic add, and the slots are summed
/// only when /metrics is scraped, so the hot path takes no lock and shares no
/// cache line between threads. Series are created once (static storage, at
/// registration) and never removed; values that belong to an object with a
/// lifetime (a pool, the HTTP server) are read at scrape time by a collector,
/// which the object registers and unregisters (collector_handle).
///
/// Any layer may record (this is util/); server/ renders and serves.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::metrics {

/// Recording on (default) or off (`web.metrics = false`): one relaxed load per record.
void set_enabled(bool on) noexcept;
bool enabled() noexcept;

inline constexpr std::size_t shard_count = 16;

/// This thread's shard (threads take shards round robin).
std::size_t this_shard() noexcept;

using labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonic counter (name ends in _total).
class counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        if (!enabled()) return;
        slots_[this_shard()].value.fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t value() const noexcept;

private:
    struct alignas(64) slot {
        std::atomic<std::uint64_t> value{0};
    };
    std::array<slot, shard_count> slots_{};
};

/// A histogram of seconds (or any unit) with fixed upper bounds.
class histogram {
public:
    static constexpr std::size_t max_bounds = 15;
    explicit histogram(std::initializer_list<double> bounds);

    void observe(double v) noexcept;
    /// Cumulative bucket counts (one per bound, then +Inf), sum, count.
    struct snapshot {
        std::vector<double> bounds;
        std::vector<std::uint64_t> cumulative;  ///< size bounds + 1 (+Inf last)
        double sum = 0;
        std::uint64_t count = 0;
    };
    snapshot read() const;

private:
    struct alignas(64) slot {
        std::array<std::atomic<std::uint64_t>, max_bounds + 1> buckets{};
        std::atomic<std::uint64_t> sum_nanos{0};  ///< sum × 1e9, integral (no CAS loop)
    };
    std::array<double, max_bounds> bounds_{};
    std::size_t size_ = 0;
    std::array<slot, shard_count> slots_{};
};

/// Registers a counter series (idempotent per name + labels: the same object
/// comes back). The reference stays valid for the process's life.
counter& register_counter(std::string_view name, std::string_view help, labels series_labels = {});
/// Default bounds: latency in seconds, 0.5 ms to 10 s.
histogram& register_histogram(std::string_view name, std::string_view help, labels series_labels,
                              std::initializer_list<double> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});

/// What a collector writes: samples of families it declares.
class writer {
public:
    /// Starts (or goes back to) a family (# HELP, # TYPE); type "gauge",
    /// "counter". Samples go to the current family: a family written by two
    /// collectors (two pools) still comes out in one block.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, const labels& series_labels, double value);
    void sample(std::string_view name, double value) { sample(name, {}, value); }
    /// The current family's text (for histogram lines).
    std::string& text() { return blocks_[current_].second; }
    /// Every family, in declaration order.
    std::string finish() const;

private:
    std::vector<std::pair<std::string, std::string>> blocks_;  ///< name, header + samples
    std::size_t current_ = 0;
};

/// Called at each scrape.
using collector = std::function<void(writer&)>;

/// Unregisters its collector when destroyed (waits for a scrape in progress).
class collector_handle {
public:
    collector_handle() = default;
    explicit collector_handle(collector fn);
    ~collector_handle();
    collector_handle(collector_handle&& other) noexcept : id_(std::exchange(other.id_, 0)) {}
    collector_handle& operator=(collector_handle&& other) noexcept;
    collector_handle(const collector_handle&) = delete;
    collector_handle& operator=(const collector_handle&) = delete;

private:
    std::uint64_t id_ = 0;
};

/// The whole exposition text (registered series, then every collector's).
std::string render();

/// Label value escaping per the text format (\\, \", \n).
std::string escape_label(std::string_view value);

/// process_resident_memory_bytes from /proc/self/statm (0 when unreadable).
double resident_memory_bytes();

}  // namespace atrium::metrics
