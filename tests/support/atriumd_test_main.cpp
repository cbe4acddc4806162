// atriumd_test — atriumd with the test-only `test.*` methods in front of the
// dispatcher (tests/support/test_handler.hpp), for the tests that need slow,
// failing and echoing calls. Same command line as atriumd.

#include "server/atriumd.hpp"
#include "tests/support/queue_test_module.hpp"
#include "tests/support/test_handler.hpp"

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    atrium::server::atriumd_extensions extensions;
    extensions.wrap_handler = [](atrium::server::rpc_handler& next, std::shared_ptr<atrium::db::backend> backend)
        -> std::unique_ptr<atrium::server::rpc_handler> {
        return std::make_unique<atrium::test::test_handler>(next, std::move(backend));
    };
    // The task queue's e2e check (tests/e2e/queue_e2e.py) activates its own module.
    if (const char* queue = std::getenv("ATRIUM_TEST_QUEUE_MODULE"); queue && std::string(queue) == "1")
        extensions.init_modules.push_back(atrium::test::register_queue_test_module());
    return atrium::server::run_atriumd(argc, argv, extensions);
}
