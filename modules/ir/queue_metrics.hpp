#pragma once
// The task queue's counters in /metrics (util/metrics.hpp), recorded where
// the events happen so that every process running tasks counts them:
// atrium_queue_tasks_total{outcome} and atrium_queue_task_duration_seconds.
// The gauges (depth by state, busy workers) belong to the workers
// (server/queue_workers.hpp).

#include <cstddef>

namespace atrium::modules::ir {

enum class task_event { enqueued, started, done, retried, failed, lease_lost, count };

/// atrium_queue_tasks_total{outcome=<event>}.
void count_task(task_event event) noexcept;
/// atrium_queue_task_duration_seconds: one run of a task, its transaction included.
void observe_task_duration(double seconds) noexcept;
/// Registers the series (they show 0 before their first event).
void register_queue_metrics();

}  // namespace atrium::modules::ir
