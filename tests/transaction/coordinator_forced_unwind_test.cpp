// forced_unwind (a fiber being destroyed) is never swallowed by a failure path
// of the two-phase-commit core (fixtures: coordinator_fixtures.hpp).

#include "fiber/unwind.hpp"
#include "tests/support/recording_data_manager.hpp"
#include "tests/transaction/coordinator_fixtures.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/manager.hpp"
#include "transaction/retry_helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium;
using atrium::test::call_log;
using atrium::test::log_capture;
using atrium::test::recording_data_manager;
using atrium::test::recording_last_resource;
using atrium::test::recording_synchronizer;
using log_t = std::vector<std::string>;
using namespace atrium::test::coordinator_fixtures;

// ---------------------------------------------------------------------------
// forced_unwind (a fiber being destroyed) is never swallowed by a failure path

namespace {

/// True if `fn` throws the exception that unwinds a fiber being destroyed.
template <class Fn>
bool throws_unwinding(Fn&& fn) {
    try {
        fn();
    } catch (...) {
        return fiber::is_unwinding(std::current_exception());
    }
    return false;
}

}  // namespace

TEST_CASE("§3.3/§3.4/§3.8 boost::context forced_unwind passes through guarded failure paths") {
    const auto unwind = fiber::make_unwinding_exception();
    CHECK(fiber::is_unwinding(unwind));
    CHECK(throws_unwinding([&] { call_guarded(log_level::error, "x", [&] { std::rethrow_exception(unwind); }); }));

    SUBCASE("commit: rethrown at once, no clean-up is attempted") {
        zope_fixture f;
        f.join_both();
        f.b->fail_at("tpc_vote", unwind);
        CHECK(throws_unwinding([&] { f.txn->commit(); }));
        CHECK(f.log->back() == "b.tpc_vote");
    }
    SUBCASE("abort: rethrown from the guarded DM call; the transaction is still freed") {
        zope_fixture f;
        f.join_both();
        f.b->fail_at("abort", unwind);
        CHECK(throws_unwinding([&] { f.txn->abort(); }));
        CHECK(*f.log == log_t{"b.abort"});
        CHECK(f.manager.current() == nullptr);
    }
    SUBCASE("run/attempts: never retried, even when a DM would retry anything") {
        auto log = std::make_shared<call_log>();
        tpc::transaction_manager manager;
        auto dm = recording_data_manager::make("a", log);
        dm->set_should_retry([](const std::exception_ptr&) { return true; });
        int calls = 0;
        auto body = [&](tpc::zope_transaction& txn) {
            txn.join(dm);
            ++calls;
            std::rethrow_exception(unwind);
        };
        CHECK(throws_unwinding([&] { tpc::run(manager, body, 3); }));
        CHECK(calls == 1);
        CHECK(throws_unwinding([&] { tpc::with_attempts(manager, 3, body); }));
        CHECK(calls == 2);
    }
}
