#include "modules/ir/queue_metrics.hpp"

#include "util/metrics.hpp"

#include <array>
#include <string>
#include <string_view>

namespace atrium::modules::ir {

namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(task_event::count)> events{
    "enqueued", "started", "done", "retried", "failed", "lease_lost"};

struct queue_series {
    std::array<metrics::counter*, events.size()> tasks{};
    metrics::histogram* duration = nullptr;

    queue_series() {
        for (std::size_t e = 0; e < events.size(); ++e)
            tasks[e] = &metrics::register_counter(
                "atrium_queue_tasks_total",
                "Task queue events: enqueued (committed), started (taken), and how runs ended (done, retried, "
                "failed for good, lease_lost).",
                {{"outcome", std::string(events[e])}});
        // Tasks are slow work: up to ten minutes.
        duration = &metrics::register_histogram("atrium_queue_task_duration_seconds",
                                                "Time to run one task in its transaction, commit included.", {},
                                                {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600});
    }
};

const queue_series& series() {
    static const queue_series s;
    return s;
}

}  // namespace

void count_task(task_event event) noexcept { series().tasks[static_cast<std::size_t>(event)]->add(); }

void observe_task_duration(double seconds) noexcept { series().duration->observe(seconds); }

void register_queue_metrics() { (void)series(); }

}  // namespace atrium::modules::ir
