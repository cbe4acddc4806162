// SPEC §2 (Zope-style transaction manager, status, metadata, side data) and
// §3.6 (synchronizers registered on a manager).

#include "tests/support/recording_data_manager.hpp"
#include "transaction/errors.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/manager.hpp"

#include <doctest/doctest.h>

#include <any>
#include <stdexcept>
#include <string>
#include <vector>

using namespace atrium;
using atrium::test::call_log;
using atrium::test::log_capture;
using atrium::test::recording_data_manager;
using atrium::test::recording_synchronizer;
using log_t = std::vector<std::string>;

// ---------------------------------------------------------------------------
// §2.1 manager

TEST_CASE("§2.1 a fiber-local default manager is available, one per fiber context") {
    tpc::transaction_manager& thread_default = tpc::current_manager();
    CHECK(&thread_default == &fiber_state().manager());
    CHECK(&thread_default == &tpc::current_manager());  // created once
    CHECK_FALSE(thread_default.explicit_mode());

    fiber::context first, second;
    tpc::transaction_manager* in_first = nullptr;
    tpc::transaction_manager* in_second = nullptr;
    {
        fiber::context_scope scope(first);
        in_first = &tpc::current_manager();
        auto txn = in_first->begin();
        {
            fiber::context_scope nested(second);
            in_second = &tpc::current_manager();
            CHECK(in_second->current() == nullptr);  // the other fiber's transaction is invisible
        }
        CHECK(&tpc::current_manager() == in_first);
        CHECK(in_first->current() == txn);
        txn->abort();
    }
    CHECK(in_first == &fiber_state(first).manager());
    CHECK(in_second == &fiber_state(second).manager());
    CHECK(in_first != in_second);
    CHECK(in_first != &thread_default);
    CHECK(&tpc::current_manager() == &thread_default);
}

TEST_CASE("§2.1 synchronizers registered on the default manager are reachable for unregistering") {
    auto log = std::make_shared<call_log>();
    auto synch = std::make_shared<recording_synchronizer>(log);
    tpc::current_manager().register_synch(synch);
    CHECK(tpc::current_manager().registered_synchs());
    tpc::current_manager().unregister_synch(synch);
    CHECK_FALSE(tpc::current_manager().registered_synchs());
    tpc::current_manager().register_synch(synch);
    tpc::current_manager().clear_synchs();
    CHECK_FALSE(tpc::current_manager().registered_synchs());
}

TEST_CASE("§2.1 begin() in explicit mode with a current transaction throws already_in_transaction") {
    tpc::transaction_manager manager(true);
    CHECK(manager.explicit_mode());
    auto txn = manager.begin();
    CHECK_THROWS_AS(manager.begin(), already_in_transaction);
    CHECK(manager.current() == txn);  // untouched
    txn->abort();
    CHECK_NOTHROW(manager.begin());
}

TEST_CASE("§2.1 begin() in implicit mode aborts the current transaction first") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto first = manager.begin();
    auto dm = recording_data_manager::make("a", log);
    first->join(dm);
    auto second = manager.begin();
    CHECK(*log == log_t{"a.abort"});
    CHECK(second != first);
    CHECK(manager.current() == second);
    CHECK(first->manager() == nullptr);
    CHECK(first->resources().empty());
}

TEST_CASE("§2.1 begin() makes the new transaction current, then calls newTransaction on every synchronizer") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto s1 = std::make_shared<recording_synchronizer>(log, "s1.");
    auto s2 = std::make_shared<recording_synchronizer>(log, "s2.");
    manager.register_synch(s1);
    manager.register_synch(s2);
    std::shared_ptr<tpc::zope_transaction> current_during;
    struct probe final : tpc::synchronizer {
        tpc::transaction_manager& manager;
        std::shared_ptr<tpc::zope_transaction>& out;
        probe(tpc::transaction_manager& m, std::shared_ptr<tpc::zope_transaction>& o) : manager(m), out(o) {}
        void new_transaction(tpc::coordinator&) override { out = manager.current(); }
    };
    auto p = std::make_shared<probe>(manager, current_during);
    manager.register_synch(p);
    auto txn = manager.begin();
    CHECK(*log == log_t{"s1.newTransaction", "s2.newTransaction"});
    CHECK(current_during == txn);
    REQUIRE(s1->seen.size() == 1);
    CHECK(s1->seen[0] == txn.get());
}

TEST_CASE("§2.1 get(): explicit mode without a transaction throws no_transaction") {
    tpc::transaction_manager manager(true);
    CHECK_THROWS_AS(manager.get(), no_transaction);
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§2.1 get(): implicit mode creates a transaction silently (no newTransaction)") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    auto txn = manager.get();
    REQUIRE(txn != nullptr);
    CHECK(manager.get() == txn);
    CHECK(manager.current() == txn);
    CHECK(log->empty());
}

TEST_CASE("§2.1 commit/abort/doom/is_doomed/savepoint delegate to get()") {
    SUBCASE("explicit mode without a transaction: no_transaction") {
        tpc::transaction_manager manager(true);
        CHECK_THROWS_AS(manager.commit(), no_transaction);
        CHECK_THROWS_AS(manager.abort(), no_transaction);
        CHECK_THROWS_AS(manager.doom(), no_transaction);
        CHECK_THROWS_AS(manager.is_doomed(), no_transaction);
        CHECK_THROWS_AS(manager.savepoint(), no_transaction);
    }
    SUBCASE("with a transaction") {
        auto log = std::make_shared<call_log>();
        tpc::transaction_manager manager(true);
        auto txn = manager.begin();
        auto dm = recording_data_manager::make("a", log);
        dm->enable_savepoints();
        txn->join(dm);
        auto sp = manager.savepoint();
        CHECK(sp.valid());
        CHECK(*log == log_t{"a.savepoint"});
        CHECK_FALSE(manager.is_doomed());
        manager.doom();
        CHECK(manager.is_doomed());
        CHECK(txn->is_doomed());
        CHECK_THROWS_AS(manager.commit(), doomed_transaction);
        manager.abort();
        CHECK(dm->calls("abort") == 1);
        CHECK(manager.current() == nullptr);
    }
    SUBCASE("commit delegates") {
        auto log = std::make_shared<call_log>();
        tpc::transaction_manager manager;
        auto dm = recording_data_manager::make("a", log);
        manager.get()->join(dm);
        manager.commit();
        CHECK(dm->calls("tpc_finish") == 1);
        CHECK(manager.current() == nullptr);
    }
}

TEST_CASE("§2.1 free(txn): a transaction that is not current is a foreign transaction") {
    tpc::transaction_manager manager;
    tpc::transaction_manager other;
    auto mine = manager.begin();
    auto theirs = other.begin();
    CHECK_THROWS_WITH_AS(manager.free(*theirs), "Foreign transaction", value_error);
    CHECK(manager.current() == mine);
    manager.free(*mine);
    CHECK(manager.current() == nullptr);
    CHECK(mine->manager() == nullptr);
    CHECK_THROWS_WITH_AS(manager.free(*mine), "Foreign transaction", value_error);
}

TEST_CASE("§2.1 scope: enter begins, normal exit commits") {
    auto log = std::make_shared<call_log>();
    auto synch = std::make_shared<recording_synchronizer>(log);
    tpc::transaction_manager manager;
    manager.register_synch(synch);
    auto dm = recording_data_manager::make("a", log);
    std::shared_ptr<tpc::zope_transaction> txn;
    {
        auto scope = manager.scope();
        txn = scope.get();
        CHECK(manager.current() == txn);
        CHECK(&scope.txn() == txn.get());
        scope.txn().join(dm);
    }
    CHECK(*log == log_t{"newTransaction", "beforeCompletion", "a.tpc_begin", "a.commit", "a.tpc_vote", "a.tpc_finish",
                        "afterCompletion"});
    CHECK(txn->state() == tpc::status::committed);
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§2.1 scope: exit by an exception aborts and the exception propagates") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    std::shared_ptr<tpc::zope_transaction> txn;
    try {
        auto scope = manager.scope();
        txn = scope.get();
        scope.txn().join(dm);
        throw std::runtime_error("body failed");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "body failed");
    }
    CHECK(*log == log_t{"a.abort"});
    CHECK(txn->state() == tpc::status::active);
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§2.1 scope: a failing commit at exit propagates") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("tpc_vote");
    std::shared_ptr<tpc::zope_transaction> txn;
    auto body = [&] {
        auto scope = manager.scope();
        txn = scope.get();
        scope.txn().join(dm);
    };
    CHECK_THROWS_WITH(body(), "a.tpc_vote failed");
    CHECK(txn->state() == tpc::status::commit_failed);
    CHECK(manager.current() == txn);  // only abort() (or an implicit begin()) gets out
    manager.begin();
    CHECK(manager.current() != txn);
}

TEST_CASE("§2.1 scope: an abort error while unwinding is logged, the original exception propagates") {
    tpc::transaction_manager manager;
    log_capture captured;
    try {
        auto scope = manager.scope();
        scope.txn().add_after_abort_hook([] { throw std::runtime_error("abort hook failed"); });
        throw std::runtime_error("original");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "original");
    }
    CHECK(captured.contains(log_level::error, "abort hook failed"));
}

TEST_CASE("§2.1 scope: close(commit) ends it explicitly; the destructor then does nothing") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto dm = recording_data_manager::make("a", log);
    {
        auto scope = manager.scope();
        scope.txn().join(dm);
        scope.close(false);
        CHECK(scope.closed());
        CHECK(*log == log_t{"a.abort"});
        CHECK_THROWS_AS(scope.close(true), value_error);
    }
    CHECK(*log == log_t{"a.abort"});
    {
        auto scope = manager.scope();
        scope.txn().join(dm);
        scope.close(true);
        CHECK(dm->calls("tpc_finish") == 1);
    }
    CHECK(dm->calls("tpc_finish") == 1);
}

TEST_CASE("§2.1 the manager detaches its current transaction when destroyed") {
    std::shared_ptr<tpc::zope_transaction> txn;
    {
        tpc::transaction_manager manager;
        txn = manager.begin();
    }
    CHECK(txn->manager() == nullptr);
    CHECK_NOTHROW(txn->commit());
}

// ---------------------------------------------------------------------------
// §2.1 / §3.6 synchronizers on a manager

TEST_CASE("§2.1 register_synch with a current transaction calls newTransaction at once") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    CHECK(*log == log_t{"newTransaction"});
    REQUIRE(synch->seen.size() == 1);
    CHECK(synch->seen[0] == txn.get());

    tpc::transaction_manager idle;
    auto other = std::make_shared<recording_synchronizer>(log);
    idle.register_synch(other);
    CHECK(other->seen.empty());
}

TEST_CASE("§2.1 synchronizers are weakly held; registered_synchs() reports live ones") {
    tpc::transaction_manager manager;
    CHECK_FALSE(manager.registered_synchs());
    auto log = std::make_shared<call_log>();
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    CHECK(manager.registered_synchs());
    synch.reset();
    CHECK_FALSE(manager.registered_synchs());
    manager.begin()->commit();  // nothing to call
    CHECK(log->empty());
}

TEST_CASE("§2.1 unregister_synch and clear_synchs") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto s1 = std::make_shared<recording_synchronizer>(log, "s1.");
    auto s2 = std::make_shared<recording_synchronizer>(log, "s2.");
    manager.register_synch(s1);
    manager.register_synch(s2);
    manager.unregister_synch(s1);
    manager.begin();
    CHECK(*log == log_t{"s2.newTransaction"});
    manager.clear_synchs();
    CHECK_FALSE(manager.registered_synchs());
    log->clear();
    manager.commit();
    CHECK(log->empty());
}

TEST_CASE("§2.1 a transaction sees synchronizers registered after it was created (shared live set)") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    log->clear();
    txn->commit();
    CHECK(*log == log_t{"beforeCompletion", "afterCompletion"});
}

TEST_CASE("§2.3 a freed transaction no longer shares the manager's live synchronizer set") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    CHECK(txn->synchronizers() == manager.synchs());  // live while current
    txn->commit();                                    // frees it
    CHECK(txn->synchronizers() != manager.synchs());
    auto late = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(late);
    CHECK(manager.registered_synchs());
    // Nothing of the freed transaction reaches a synchronizer registered later.
    txn->abort();
    CHECK(log->empty());
    CHECK((!txn->synchronizers() || !txn->synchronizers()->any()));
    // An aborted one too.
    auto second = manager.begin();
    log->clear();
    second->abort();
    CHECK(second->synchronizers() != manager.synchs());
}

TEST_CASE("§3.6 newTransaction only on begin() and late registration; completion on commit and abort") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    manager.get();  // implicit creation: silent
    manager.commit();
    manager.begin();
    manager.abort();
    CHECK(*log == log_t{"beforeCompletion", "afterCompletion", "newTransaction", "beforeCompletion",
                        "afterCompletion"});
}

// ---------------------------------------------------------------------------
// §2.2 status via the Zope facade

TEST_CASE("§2.2 abort() does not change the status") {
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    txn->abort();
    CHECK(txn->state() == tpc::status::active);
    auto doomed = manager.begin();
    doomed->doom();
    doomed->abort();
    CHECK(doomed->state() == tpc::status::doomed);
}

TEST_CASE("§2.2 a doomed transaction allows join and savepoint; commit throws every time; abort works") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    txn->doom();
    auto dm = recording_data_manager::make("a", log);
    dm->enable_savepoints();
    CHECK(txn->join(dm) == dm);
    auto sp = txn->savepoint();
    CHECK(sp.valid());
    CHECK_THROWS_AS(txn->commit(), doomed_transaction);
    CHECK_THROWS_AS(txn->commit(), doomed_transaction);
    CHECK(*log == log_t{"a.savepoint"});
    txn->abort();
    CHECK(*log == log_t{"a.savepoint", "a.abort"});
    CHECK(manager.current() == nullptr);
}

TEST_CASE("§2.2 after COMMITFAILED, commit/join/savepoint throw transaction_failed_error; abort gets out") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager(true);
    auto txn = manager.begin();
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("tpc_vote", std::make_exception_ptr(std::runtime_error("vote refused")));
    txn->join(dm);
    CHECK_THROWS_WITH(txn->commit(), "vote refused");
    REQUIRE(txn->state() == tpc::status::commit_failed);
    auto check_failed = [&](auto&& op) {
        try {
            op();
            FAIL("expected transaction_failed_error");
        } catch (const transaction_failed_error& e) {
            const std::string what = e.what();
            CHECK(what.rfind("An operation previously failed", 0) == 0);
            CHECK(what.find("vote refused") != std::string::npos);
        }
    };
    check_failed([&] { txn->commit(); });
    check_failed([&] { txn->join(recording_data_manager::make("b", log)); });
    check_failed([&] { txn->savepoint(true); });
    // Explicit mode: begin() is refused until abort() gets out.
    CHECK_THROWS_AS(manager.begin(), already_in_transaction);
    manager.abort();
    CHECK(manager.current() == nullptr);
    CHECK_NOTHROW(manager.begin());
}

TEST_CASE("§2.2 after COMMITFAILED, begin() in implicit mode gets out") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    auto dm = recording_data_manager::make("a", log);
    dm->fail_at("commit");
    txn->join(dm);
    CHECK_THROWS(txn->commit());
    log->clear();
    auto next = manager.begin();
    CHECK(*log == log_t{"a.abort"});  // the failed transaction was aborted
    CHECK(next->state() == tpc::status::active);
}

// ---------------------------------------------------------------------------
// §2.3 metadata and side data

TEST_CASE("§2.3 note(): null ignored, text trimmed, separated by a newline") {
    tpc::zope_transaction txn;
    txn.note(std::nullopt);
    CHECK(txn.description().empty());
    txn.note("  first line \n");
    CHECK(txn.description() == "first line");
    txn.note(std::nullopt);
    CHECK(txn.description() == "first line");
    txn.note("\tsecond\t");
    CHECK(txn.description() == "first line\nsecond");
}

TEST_CASE("§2.3 description setter ignores null; user setter rejects null; set_user(name, path)") {
    tpc::zope_transaction txn;
    txn.set_description(std::string("desc"));
    txn.set_description(std::nullopt);
    CHECK(txn.description() == "desc");
    txn.set_user_value(std::string("raw"));
    CHECK(txn.user() == "raw");
    CHECK_THROWS_AS(txn.set_user_value(std::nullopt), value_error);
    CHECK(txn.user() == "raw");
    txn.set_user("bob");
    CHECK(txn.user() == "/ bob");
    txn.set_user("alice", "/site");
    CHECK(txn.user() == "/site alice");
}

TEST_CASE("§2.3 set_extended_info overwrites extension[name]") {
    tpc::zope_transaction txn;
    CHECK(txn.extension().empty());
    txn.set_extended_info("k", 1);
    txn.set_extended_info("k", "two");
    txn.set_extended_info("other", nlohmann::json::array({1, 2}));
    CHECK(txn.extension()["k"] == "two");
    CHECK(txn.extension().size() == 2);
}

TEST_CASE("§2.3 set_data/data are keyed by object identity; missing ⇒ key_error") {
    tpc::zope_transaction txn;
    int key1 = 0, key2 = 0;  // equal values, distinct objects
    txn.set_data(&key1, std::string("one"));
    CHECK(std::any_cast<std::string>(txn.data(&key1)) == "one");
    CHECK(txn.data_as<std::string>(&key1) == "one");
    CHECK_THROWS_AS(txn.data(&key2), key_error);
    txn.set_data(&key1, 7);
    CHECK(txn.data_as<int>(&key1) == 7);
}

TEST_CASE("§2.3 side data is discarded when the transaction is freed after commit") {
    tpc::transaction_manager manager;
    auto txn = manager.begin();
    int key = 0;
    txn->set_data(&key, 1);
    txn->commit();
    CHECK_THROWS_AS(txn->data(&key), key_error);
}

TEST_CASE("§2.3 side data is still readable in afterCompletion during abort, then discarded") {
    auto log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    auto synch = std::make_shared<recording_synchronizer>(log);
    manager.register_synch(synch);
    auto txn = manager.begin();
    int key = 0;
    txn->set_data(&key, std::string("visible"));
    std::string read_back;
    synch->on_after_completion = [&](tpc::coordinator& c) {
        auto* zope = tpc::as_transaction(c);
        REQUIRE(zope != nullptr);
        read_back = zope->data_as<std::string>(&key);
    };
    txn->abort();
    CHECK(read_back == "visible");
    CHECK_THROWS_AS(txn->data(&key), key_error);
}

TEST_CASE("§2.3 as_transaction() finds the Zope facade behind a coordinator&") {
    tpc::zope_transaction txn;
    tpc::coordinator& base = txn;
    CHECK(tpc::as_transaction(base) == &txn);
    tpc::coordinator tryton(tpc::facade::tryton);
    CHECK(tpc::as_transaction(tryton) == nullptr);
}
