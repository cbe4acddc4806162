#pragma once
// A real SQLite database in a temporary directory, with a `note` table, for
// the transaction-layer tests.

#include "database/database.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/data_manager.hpp"
#include "transaction/fiber_context.hpp"

#include <memory>
#include <string>
#include <vector>

namespace atrium::test {

struct sqlite_fixture {
    temp_dir dir;
    std::unique_ptr<db::backend> backend;
    std::shared_ptr<db::database> db;

    sqlite_fixture() {
        // A short busy wait keeps lock-contention tests quick; waits go through the fiber.
        backend = db::open_backend("sqlite://" + dir.path().string() + "?busy_wait_ms=100", fiber_wait_hooks());
        backend->create("test");
        db = backend->open("test");
        auto conn = db->acquire();
        conn->begin({});
        conn->execute("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
        conn->commit();
        db->release(std::move(conn));
    }

    /// Notes as another connection sees them (committed data only).
    std::vector<std::string> committed_notes() {
        auto conn = db->acquire();
        auto rows = conn->execute("SELECT text FROM note ORDER BY id");
        db->release(std::move(conn));
        std::vector<std::string> texts;
        for (auto& row : rows.rows) texts.push_back(std::get<std::string>(row[0]));
        return texts;
    }
};

/// A data manager that records the calls it gets and can fail at one of them.
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
