// atrium-worker_test — atrium-worker with the queue test module registered
// (ATRIUM_TEST_QUEUE_MODULE=1), so that it runs the tasks of atriumd_test's
// test_queue_jobs (tests/e2e/queue_worker_e2e.py). Same command line as atrium-worker.

#include "server/atrium_worker.hpp"
#include "tests/support/queue_test_module.hpp"

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (const char* queue = std::getenv("ATRIUM_TEST_QUEUE_MODULE"); queue && std::string(queue) == "1")
        atrium::test::register_queue_test_module();
    return atrium::server::run_atrium_worker(argc, argv);
}
