// SPEC §3.8: is_retryable, attempts() and run() over the Zope-style manager.

#include "tests/support/recording_data_manager.hpp"
#include "transaction/errors.hpp"
#include "transaction/manager.hpp"
#include "transaction/retry_helpers.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium;
using atrium::test::call_log;
using atrium::test::recording_data_manager;
using atrium::test::recording_synchronizer;
using log_t = std::vector<std::string>;

namespace {

struct retryable_marker : std::runtime_error {
    retryable_marker() : std::runtime_error("dm-specific conflict") {}
};

bool is_marker(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const retryable_marker&) {
        return true;
    } catch (...) {
        return false;  // classifies a stored error; no fiber (forced_unwind) in these tests
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// is_retryable

TEST_CASE("§3.8 is_retryable: transient_error, or any joined DM's should_retry") {
    auto log = std::make_shared<call_log>();
    tpc::coordinator txn(tpc::facade::zope);
    const auto transient = std::make_exception_ptr(transient_error("conflict"));
    const auto marker = std::make_exception_ptr(retryable_marker());
    const auto other = std::make_exception_ptr(std::runtime_error("other"));
    CHECK(tpc::is_transient(transient));
    CHECK_FALSE(tpc::is_transient(other));
    CHECK_FALSE(tpc::is_transient(nullptr));
    CHECK(tpc::is_retryable(txn, transient));
    CHECK_FALSE(tpc::is_retryable(txn, marker));

    auto no = recording_data_manager::make("no", log);
    no->set_should_retry([](const std::exception_ptr&) { return false; });
    auto yes = recording_data_manager::make("yes", log);
    yes->set_should_retry(is_marker);
    txn.join(no);
    CHECK_FALSE(tpc::is_retryable(txn, marker));
    txn.join(yes);
    CHECK(tpc::is_retryable(txn, marker));
    CHECK_FALSE(tpc::is_retryable(txn, other));
}

TEST_CASE("§3.8 is_retryable on a manager uses the current transaction and never creates one") {
    tpc::transaction_manager manager(true);
    CHECK(tpc::is_retryable(manager, std::make_exception_ptr(transient_error("t"))));
    CHECK_FALSE(tpc::is_retryable(manager, std::make_exception_ptr(retryable_marker())));
    CHECK(manager.current() == nullptr);
    auto log = std::make_shared<call_log>();
    auto dm = recording_data_manager::make("a", log);
    dm->set_should_retry(is_marker);
    manager.begin()->join(dm);
    CHECK(tpc::is_retryable(manager, std::make_exception_ptr(retryable_marker())));
}

// ---------------------------------------------------------------------------
// attempts

TEST_CASE("§3.8 attempts(n ≤ 0) throws value_error") {
    tpc::transaction_manager manager;
    CHECK_THROWS_AS(tpc::attempts(manager, 0), value_error);
    CHECK_THROWS_AS(tpc::attempts(manager, -1), value_error);
    CHECK_THROWS_AS(tpc::with_attempts(manager, 0, [] {}), value_error);
}

TEST_CASE("§3.8 attempts: a successful attempt commits and stops the iteration") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int iterations = 0;
    for (auto& attempt : tpc::attempts(manager, 3)) {
        ++iterations;
        CHECK(attempt.number() == 1);
        CHECK(attempt.run([&](tpc::zope_transaction& txn) { txn.join(dm); }));
        CHECK(attempt.succeeded());
    }
    CHECK(iterations == 1);
    CHECK(*log == log_t{"a.tpc_begin", "a.commit", "a.tpc_vote", "a.tpc_finish"});
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§3.8 attempts: each attempt begins a transaction; a retryable body error aborts and is swallowed") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    auto dm = recording_data_manager::make("a", log);
    std::vector<int> numbers;
    std::vector<const tpc::zope_transaction*> txns;
    std::vector<std::shared_ptr<tpc::zope_transaction>> keep;
    for (auto& attempt : tpc::attempts(manager, 3)) {
        numbers.push_back(attempt.number());
        const bool ok = attempt.run([&](tpc::zope_transaction& txn) {
            keep.push_back(txn.shared_from_this());
            txns.push_back(&txn);
            txn.join(dm);
            if (attempt.number() < 3) throw transient_error("conflict");
        });
        CHECK(ok == (attempt.number() == 3));
    }
    CHECK(numbers == std::vector<int>{1, 2, 3});
    REQUIRE(txns.size() == 3);
    CHECK(txns[0] != txns[1]);
    CHECK(txns[1] != txns[2]);
    CHECK(*log == log_t{"newTransaction", "beforeCompletion", "a.abort", "afterCompletion",         // attempt 1
                        "newTransaction", "beforeCompletion", "a.abort", "afterCompletion",         // attempt 2
                        "newTransaction", "beforeCompletion", "a.tpc_begin", "a.commit", "a.tpc_vote",  // attempt 3
                        "a.tpc_finish", "afterCompletion"});
}

TEST_CASE("§3.8 attempts: an error from the commit aborts and is retried") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("tpc_vote", std::make_exception_ptr(transient_error("serialization failure")), 1);
    int iterations = 0;
    for (auto& attempt : tpc::attempts(manager, 3)) {
        ++iterations;
        attempt.run([&](tpc::zope_transaction& txn) { txn.join(dm); });
    }
    CHECK(iterations == 2);
    CHECK(*log == log_t{"a.tpc_begin", "a.commit", "a.tpc_vote", "a.abort", "a.tpc_abort",  // failed commit
                        "a.abort",                                                          // the attempt's abort
                        "a.tpc_begin", "a.commit", "a.tpc_vote", "a.tpc_finish"});
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§3.8 attempts: a non-retryable error aborts and propagates at once") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int iterations = 0;
    auto loop = [&] {
        for (auto& attempt : tpc::attempts(manager, 3)) {
            ++iterations;
            attempt.run([&](tpc::zope_transaction& txn) {
                txn.join(dm);
                throw std::logic_error("bug");
            });
        }
    };
    CHECK_THROWS_WITH_AS(loop(), "bug", std::logic_error);
    CHECK(iterations == 1);
    CHECK(*log == log_t{"a.abort"});
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§3.8 attempts: the last attempt never swallows") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int iterations = 0;
    auto loop = [&] {
        for (auto& attempt : tpc::attempts(manager, 2)) {
            ++iterations;
            CHECK(attempt.is_last() == (attempt.number() == 2));
            attempt.run([&](tpc::zope_transaction& txn) {
                txn.join(dm);
                throw transient_error("still conflicting");
            });
        }
    };
    CHECK_THROWS_AS(loop(), transient_error);
    CHECK(iterations == 2);
    CHECK(dm->calls("abort") == 2);
}

TEST_CASE("§3.8 attempts: retryability is evaluated before aborting (DM still joined)") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->set_should_retry(is_marker);
    int iterations = 0;
    for (auto& attempt : tpc::attempts(manager, 2)) {
        ++iterations;
        attempt.run([&](tpc::zope_transaction& txn) {
            txn.join(dm);
            if (attempt.number() == 1) throw retryable_marker();
        });
    }
    CHECK(iterations == 2);
    REQUIRE(log->size() >= 2);
    CHECK((*log)[0] == "a.should_retry");
    CHECK((*log)[1] == "a.abort");
}

TEST_CASE("§3.8 with_attempts returns the body's value from the successful attempt") {
    tpc::transaction_manager manager;
    int calls = 0;
    const int value = tpc::with_attempts(manager, 3, [&] {
        if (++calls < 3) throw transient_error("again");
        return calls * 10;
    });
    CHECK(value == 30);
    std::string text = tpc::with_attempts(manager, 1, [](tpc::zope_transaction& txn) {
        return std::string(txn.state() == tpc::status::active ? "active" : "?");
    });
    CHECK(text == "active");
    bool ran = false;
    tpc::with_attempts(manager, 1, [&] { ran = true; });
    CHECK(ran);
}

// ---------------------------------------------------------------------------
// run

TEST_CASE("§3.8 run(tries ≤ 0) throws value_error") {
    tpc::transaction_manager manager;
    bool called = false;
    CHECK_THROWS_AS(tpc::run(manager, [&] { called = true; }, 0), value_error);
    CHECK_THROWS_AS(tpc::run(manager, [&] { called = true; }, -2), value_error);
    CHECK_FALSE(called);
}

TEST_CASE("§3.8 run: begin, note, call, commit, return the value") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    auto dm = recording_data_manager::make("a", log);
    std::shared_ptr<tpc::zope_transaction> seen;
    const int result = tpc::run(
        manager,
        [&](tpc::zope_transaction& txn) {
            seen = txn.shared_from_this();
            txn.join(dm);
            return 7;
        },
        3, "transfer", "Moves money.");
    CHECK(result == 7);
    CHECK(seen->description() == "transfer\n\nMoves money.");
    CHECK(seen->state() == tpc::status::committed);
    CHECK(*log == log_t{"newTransaction", "beforeCompletion", "a.tpc_begin", "a.commit", "a.tpc_vote",
                        "a.tpc_finish", "afterCompletion"});
}

TEST_CASE("§3.8 run: the note is name, blank line, doc; \"_\" or empty parts are absent") {
    CHECK(tpc::detail::run_note("name", "doc") == "name\n\ndoc");
    CHECK(tpc::detail::run_note("name", "") == "name");
    CHECK(tpc::detail::run_note("_", "doc") == "doc");
    CHECK(tpc::detail::run_note("", "doc") == "doc");
    CHECK(tpc::detail::run_note("_", "") == "");
    CHECK(tpc::detail::run_note("", "") == "");

    tpc::transaction_manager manager;
    std::string description = "unset";
    tpc::run(manager, [&](tpc::zope_transaction& txn) { description = txn.description(); }, 1, "_");
    CHECK(description.empty());
    tpc::run(manager, [&](tpc::zope_transaction& txn) { description = txn.description(); }, 1, "_", "  Only doc. ");
    CHECK(description == "Only doc.");
}

TEST_CASE("§3.8 run: a retryable error aborts and retries while tries remain") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int calls = 0;
    const std::string result = tpc::run(
        manager,
        [&](tpc::zope_transaction& txn) {
            txn.join(dm);
            if (++calls < 3) throw transient_error("conflict");
            return std::string("done");
        },
        3);
    CHECK(result == "done");
    CHECK(calls == 3);
    CHECK(dm->calls("abort") == 2);
    CHECK(dm->calls("tpc_finish") == 1);
}

TEST_CASE("§3.8 run: a DM's should_retry makes an error retryable (evaluated before the abort)") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->set_should_retry(is_marker);
    int calls = 0;
    tpc::run(manager, [&](tpc::zope_transaction& txn) {
        txn.join(dm);
        if (++calls == 1) throw retryable_marker();
    });
    CHECK(calls == 2);
    REQUIRE(log->size() >= 2);
    CHECK((*log)[0] == "a.should_retry");
    CHECK((*log)[1] == "a.abort");
}

TEST_CASE("§3.8 run: retryable errors propagate once the tries are exhausted (after an abort)") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int calls = 0;
    auto body = [&](tpc::zope_transaction& txn) {
        txn.join(dm);
        ++calls;
        throw transient_error("always");
    };
    CHECK_THROWS_AS(tpc::run(manager, body, 2), transient_error);
    CHECK(calls == 2);
    CHECK(dm->calls("abort") == 2);
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§3.8 run: a non-retryable error aborts and propagates after one try") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    int calls = 0;
    auto body = [&](tpc::zope_transaction& txn) {
        txn.join(dm);
        ++calls;
        throw std::runtime_error("not transient");
    };
    CHECK_THROWS_WITH(tpc::run(manager, body, 5), "not transient");
    CHECK(calls == 1);
    CHECK(*log == log_t{"a.abort"});
}

TEST_CASE("§3.8 run: a fatal (non-std::exception) error is never retried, even if a DM says so") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->set_should_retry([](const std::exception_ptr&) { return true; });
    int calls = 0;
    auto body = [&](tpc::zope_transaction& txn) {
        txn.join(dm);
        ++calls;
        throw 42;
    };
    CHECK_THROWS_AS(tpc::run(manager, body, 3), int);
    CHECK(calls == 1);
    CHECK(dm->calls("abort") == 1);
}

TEST_CASE("§3.8 run: a commit failure is retried like a body failure") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("commit", std::make_exception_ptr(transient_error("commit conflict")), 1);
    int calls = 0;
    tpc::run(manager, [&](tpc::zope_transaction& txn) {
        ++calls;
        txn.join(dm);
    });
    CHECK(calls == 2);
    CHECK(dm->calls("tpc_finish") == 1);
    CHECK(manager.current() == nullptr);
}
