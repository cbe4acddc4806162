#pragma once
// A data manager that records the calls it gets and can fail at one of them
// (the transaction tests' small double; recording_data_manager.hpp has the full one).

#include "transaction/data_manager.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace atrium::test {

struct log_dm final : tpc::data_manager {
    std::string name;
    std::vector<std::string>* log;
    std::string fail_at;

    log_dm(std::string n, std::vector<std::string>& l, std::string fail = {})
        : name(std::move(n)), log(&l), fail_at(std::move(fail)) {}

    void record(const char* call) {
        log->push_back(name + "." + call);
        if (fail_at == call) throw std::runtime_error(name + " fails at " + call);
    }
    std::string sort_key() const override { return name; }
    void tpc_begin(tpc::coordinator&) override { record("tpc_begin"); }
    void commit(tpc::coordinator&) override { record("commit"); }
    void tpc_vote(tpc::coordinator&) override { record("tpc_vote"); }
    void tpc_finish(tpc::coordinator&) override { record("tpc_finish"); }
    void tpc_abort(tpc::coordinator&) override { record("tpc_abort"); }
    void abort(tpc::coordinator&) override { record("abort"); }
};

}  // namespace atrium::test
