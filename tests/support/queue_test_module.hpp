#pragma once
// The module "test_queue_jobs" of atriumd_test (activated when
// ATRIUM_TEST_QUEUE_MODULE=1): test.queue.job rows written by queued tasks,
// for tests/e2e/queue_e2e.py. Methods (all test-only):
//   enqueue_jobs(count, prefix, seconds, fail): queues `count` tasks run(prefix-i, seconds);
//     fail: the call then fails, so its tasks must never run
//   run(key, seconds): sleeps, then writes the row {key, pid}; seconds < 0: fails (a poison task)
//   queue_rows(): every ir.queue row as {id, state, tries, args}

#include <string>

namespace atrium::test {

/// Registers the module in builtin_modules(); returns its name.
std::string register_queue_test_module();

}  // namespace atrium::test
