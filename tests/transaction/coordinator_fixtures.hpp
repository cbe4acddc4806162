#pragma once
// Fixtures shared by the tests of the two-phase-commit core
// (tests/transaction/coordinator_*_test.cpp): a Zope-style transaction and a
// Tryton-style core with a recording last resource, each with two recording
// data managers, and two special data managers.

#include "tests/support/recording_data_manager.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/manager.hpp"

#include <memory>

namespace atrium::test::coordinator_fixtures {

struct zope_fixture {
    std::shared_ptr<call_log> log = std::make_shared<call_log>();
    tpc::transaction_manager manager;
    std::shared_ptr<tpc::zope_transaction> txn = manager.begin();
    // "b" joined before "a": commit order is a, b.
    std::shared_ptr<recording_data_manager> b = recording_data_manager::make("b", log, "b");
    std::shared_ptr<recording_data_manager> a = recording_data_manager::make("a", log, "a");

    void join_both() {
        txn->join(b);
        txn->join(a);
    }
};

struct tryton_fixture {
    std::shared_ptr<call_log> log = std::make_shared<call_log>();
    tpc::coordinator core{tpc::facade::tryton};
    recording_last_resource main{log};
    std::shared_ptr<recording_data_manager> b = recording_data_manager::make("b", log, "b");
    std::shared_ptr<recording_data_manager> a = recording_data_manager::make("a", log, "a");

    void join_both() {
        core.join(b);
        core.join(a);
    }
};

/// A DM that records the coordinator status it sees in tpc_begin.
class status_probe final : public recording_data_manager {
public:
    using recording_data_manager::recording_data_manager;
    void tpc_begin(tpc::coordinator& txn) override {
        seen = txn.state();
        recording_data_manager::tpc_begin(txn);
    }
    tpc::status seen = tpc::status::active;
};

/// The minimal DM: only the pure virtual methods.
class minimal_dm final : public tpc::data_manager {
public:
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator&) override {}
    void tpc_finish(tpc::coordinator&) override {}
    void tpc_abort(tpc::coordinator&) override {}
    void abort(tpc::coordinator&) override {}
};


}  // namespace atrium::test::coordinator_fixtures
