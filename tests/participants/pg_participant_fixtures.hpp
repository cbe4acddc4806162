#pragma once
// Fixtures of the PostgreSQL participant's tests (tests/participants/pg_participant*_test.cpp):
// participant databases on the test cluster, the main database (SQLite or
// PostgreSQL), a data manager that acts at vote, a libpq listener.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "fiber/unwind.hpp"
#include "participants/pg_participant.hpp"
#include "participants/pg_participant_store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace atrium::test::pg_participant_fixtures {

using namespace std::chrono_literals;

inline std::string unique_db_name(const std::string& stem) {
    static std::atomic<int> counter{0};
    return stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}


inline db::result run(db::database& database, const std::string& sql, const std::vector<db::value>& params = {}) {
    auto conn = database.acquire();
    try {
        conn->begin({});
        auto out = conn->execute(sql, params);
        conn->commit();
        conn.return_to_pool();
        return out;
    } catch (...) {
        fiber::rethrow_if_unwinding();
        conn.discard();
        throw;
    }
}

// One participant database on the test cluster, with
//   item (id int primary key, label text)
//   uniq (k int, unique deferrable initially deferred)
struct participant {
    std::unique_ptr<db::backend> server;
    std::string name;
    std::string dsn;
    std::shared_ptr<db::database> db;

    explicit participant(const std::string& stem) {
        server = db::open_backend(test::pg_dsn(), fiber_wait_hooks());
        name = unique_db_name(stem);
        if (server->exists(name)) server->drop(name);
        server->create(name);
        dsn = test::pg_dsn() + name;
        db = server->open(name);
        run(*db, "CREATE TABLE item (id int PRIMARY KEY, label text)");
        run(*db, "CREATE TABLE uniq (k int, CONSTRAINT uniq_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)");
    }
    ~participant() {
        try {
            // A failed test may leave branches prepared: they would block the drop.
            for (const auto& gid : prepared_gids()) rollback_prepared(gid);
            db.reset();
            server->drop(name);
        } catch (const std::exception& e) {
            MESSAGE("could not drop " << name << ": " << e.what());
        }
    }
    participant(const participant&) = delete;
    participant& operator=(const participant&) = delete;

    std::vector<std::string> prepared_gids() {
        auto rows = run(*db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()");
        std::vector<std::string> out;
        for (auto& row : rows.rows) out.push_back(std::get<std::string>(row.at(0)));
        return out;
    }
    void rollback_prepared(const std::string& gid) {
        auto conn = db->acquire();
        conn->execute("ROLLBACK PREPARED '" + gid + "'");
        conn.discard();
    }
    /// Server sessions of participant connections to this database (they may
    /// take a moment to go: waits up to 1 s for `expected`).
    std::int64_t tpc_sessions(std::int64_t expected) {
        std::int64_t n = 0;
        for (int i = 0; i < 100; ++i) {
            n = std::get<std::int64_t>(run(*db, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                                "current_database() AND application_name = 'atrium-tpc'")
                                           .rows.at(0)
                                           .at(0));
            if (n == expected) break;
            std::this_thread::sleep_for(10ms);
        }
        return n;
    }
    std::vector<std::string> labels() {
        auto rows = run(*db, "SELECT label FROM item ORDER BY id");
        std::vector<std::string> out;
        for (auto& row : rows.rows) out.push_back(std::get<std::string>(row.at(0)));
        return out;
    }
};

enum class main_kind { sqlite, postgresql };

// The main database of the Tryton transaction, holding
//   note (id, text), parent (id), child (id, parent_id → parent deferred)
struct main_database {
    main_kind kind;
    std::optional<test::temp_dir> dir;
    std::unique_ptr<db::backend> server;
    std::string name;
    std::shared_ptr<db::database> db;

    explicit main_database(main_kind k) : kind(k) {
        if (kind == main_kind::sqlite) {
            dir.emplace("atrium-tpc-");
            server = db::open_backend("sqlite://" + dir->string(), fiber_wait_hooks());
        } else {
            server = db::open_backend(test::pg_dsn(), fiber_wait_hooks());
        }
        name = unique_db_name("main");
        if (server->exists(name)) server->drop(name);
        server->create(name);
        db = server->open(name);
        const std::string serial = kind == main_kind::sqlite ? "id INTEGER PRIMARY KEY" : "id BIGSERIAL PRIMARY KEY";
        run(*db, "CREATE TABLE note (" + serial + ", text TEXT NOT NULL)");
        run(*db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)");
        run(*db, "CREATE TABLE child (id INTEGER, parent_id INTEGER REFERENCES parent (id) "
                 "DEFERRABLE INITIALLY DEFERRED)");
    }
    ~main_database() {
        try {
            db.reset();
            server->drop(name);
        } catch (const std::exception& e) {
            MESSAGE("could not drop " << name << ": " << e.what());
        }
    }
    main_database(const main_database&) = delete;
    main_database& operator=(const main_database&) = delete;

    std::vector<std::string> notes() {
        auto rows = run(*db, "SELECT text FROM note ORDER BY id");
        std::vector<std::string> out;
        for (auto& row : rows.rows) out.push_back(std::get<std::string>(row.at(0)));
        return out;
    }
};

inline std::vector<db::pg_data_manager*> pg_dms(tpc::coordinator& core) {
    std::vector<db::pg_data_manager*> out;
    for (const auto& dm : core.resources()) {
        if (auto* pg = dynamic_cast<db::pg_data_manager*>(dm.get())) out.push_back(pg);
    }
    return out;
}

inline db::pg_data_manager& only_dm(tpc::coordinator& core) {
    auto dms = pg_dms(core);
    REQUIRE(dms.size() == 1);
    return *dms.front();
}

// A data manager sorted after every participant that runs `on_vote` at vote.
struct hook_dm final : tpc::data_manager {
    std::function<void()> on_vote;
    explicit hook_dm(std::function<void()> fn) : on_vote(std::move(fn)) {}
    std::string sort_key() const override { return "zzz-after-every-participant"; }
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator&) override { on_vote(); }
    void tpc_finish(tpc::coordinator&) override {}
    void tpc_abort(tpc::coordinator&) override {}
    void abort(tpc::coordinator&) override {}
};

// A libpq connection listening to channels.
class listener {
public:
    listener(const std::string& uri, const std::vector<std::string>& channels) : conn_(PQconnectdb(uri.c_str())) {
        REQUIRE(PQstatus(conn_) == CONNECTION_OK);
        for (const auto& channel : channels) {
            char* quoted = PQescapeIdentifier(conn_, channel.c_str(), channel.size());
            PGresult* r = PQexec(conn_, ("LISTEN " + std::string(quoted)).c_str());
            PQfreemem(quoted);
            REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
            PQclear(r);
        }
    }
    ~listener() { PQfinish(conn_); }
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    /// Notifications (channel, payload) received until `count` arrived or `timeout` passed.
    std::vector<std::pair<std::string, std::string>> receive(std::size_t count, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            PQconsumeInput(conn_);
            while (PGnotify* n = PQnotifies(conn_)) {
                got_.emplace_back(n->relname, n->extra);
                PQfreemem(n);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (got_.size() >= count || left.count() <= 0) return got_;
            pollfd entry{PQsocket(conn_), POLLIN, 0};
            ::poll(&entry, 1, static_cast<int>(left.count()));
        }
    }

private:
    PGconn* conn_;
    std::vector<std::pair<std::string, std::string>> got_;
};

struct quiet_log {
    std::vector<std::string> lines;
    scoped_log_sink sink{[this](log_level, std::string_view text) { lines.emplace_back(text); }};
};

inline main_kind pick_main() {
    main_kind kind = main_kind::sqlite;
    SUBCASE("SQLite main database") { kind = main_kind::sqlite; }
    SUBCASE("PostgreSQL main database") { kind = main_kind::postgresql; }
    return kind;
}

}  // namespace atrium::test::pg_participant_fixtures
