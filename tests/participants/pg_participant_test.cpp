// The PostgreSQL two-phase-commit participant (SPEC §5.1–§5.3) against the
// real test cluster: pg_join in Tryton transactions whose main database is
// SQLite (a temporary directory) or PostgreSQL, two participant databases,
// vote and main-commit failures, NOTIFY after the commit, and recovery of
// branches left prepared (crash) or raced by a slow coordinator.
//
// Not covered here: a server with max_prepared_transactions = 0 (the test
// cluster runs with 50 and a second cluster costs an initdb); the refusal is a
// SHOW at join (pg_participant.cpp require_prepared_transactions).

#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "participants/pg_participant.hpp"
#include "participants/pg_participant_store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"
#include "transaction/transaction.hpp"

#include <boost/context/detail/exception.hpp>
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

using namespace atrium;
using namespace std::chrono_literals;

namespace {

std::string unique_db_name(const std::string& stem) {
    static std::atomic<int> counter{0};
    return stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}


db::result run(db::database& database, const std::string& sql, const std::vector<db::value>& params = {}) {
    auto conn = database.acquire();
    try {
        conn->begin({});
        auto out = conn->execute(sql, params);
        conn->commit();
        conn.return_to_pool();
        return out;
    } catch (const boost::context::detail::forced_unwind&) {
        throw;
    } catch (...) {
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

std::vector<db::pg_data_manager*> pg_dms(tpc::coordinator& core) {
    std::vector<db::pg_data_manager*> out;
    for (const auto& dm : core.resources()) {
        if (auto* pg = dynamic_cast<db::pg_data_manager*>(dm.get())) out.push_back(pg);
    }
    return out;
}

db::pg_data_manager& only_dm(tpc::coordinator& core) {
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

main_kind pick_main() {
    main_kind kind = main_kind::sqlite;
    SUBCASE("SQLite main database") { kind = main_kind::sqlite; }
    SUBCASE("PostgreSQL main database") { kind = main_kind::postgresql; }
    return kind;
}

}  // namespace

TEST_CASE("pg participant: DSN parsing keeps the password out of ids and errors") {
    auto d = db::pg_participant_dsn::parse("postgresql://app:s3cret@db1:5433/ware%2Dhouse?sslmode=disable&pool_size=3");
    CHECK(d.participant_id == "postgresql://app@db1:5433/ware%2Dhouse");
    CHECK(d.database == "ware-house");
    CHECK(d.conninfo.find("s3cret") != std::string::npos);
    CHECK(d.conninfo.find("sslmode=disable") != std::string::npos);
    CHECK(d.conninfo.find("pool_size") == std::string::npos);
    CHECK(db::pg_participant_dsn::parse("postgres://h/db").participant_id == "postgresql://h/db");
    CHECK_THROWS_AS(db::pg_participant_dsn::parse("host=x dbname=y"), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_participant_dsn::parse("postgresql://h/"), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_participant_dsn::parse("postgresql://h"), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_participant_dsn::parse("postgresql://h/a/b"), std::invalid_argument);
    try {
        db::pg_participant_dsn::parse("postgresql://u:s3cret@h/db?bogus=1");
        FAIL("no error");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
        CHECK(std::string(e.what()).find("bogus") != std::string::npos);
    }
}

TEST_CASE("pg participant: notifications in SQL form") {
    CHECK(db::pg_notification::parse("orders") == db::pg_notification("orders"));
    CHECK(db::pg_notification::parse(" Orders ") == db::pg_notification("orders"));
    CHECK(db::pg_notification::parse("\"Orders\"") == db::pg_notification("Orders"));
    CHECK(db::pg_notification::parse("orders, 'it''s 42'") == db::pg_notification("orders", "it's 42"));
    CHECK_THROWS_AS(db::pg_notification::parse(""), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_notification::parse("a, b"), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_notification::parse("a, 'b"), std::invalid_argument);
    CHECK_THROWS_AS(db::pg_notification::parse("a, 'b' c"), std::invalid_argument);
}

TEST_CASE("pg participant: a transaction commits the main database and two participants") {
    main_database main(pick_main());
    participant p1("a_part");
    participant p2("b_part");
    std::vector<std::pair<std::string, std::string>> branches;  // gid, participant id
    {
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
        db::pg_join(p2.dsn, *scope).execute("INSERT INTO item VALUES (2, 'two')");
        for (auto* dm : pg_dms(scope->coordinator())) {
            CHECK(tpc::is_atrium_gid(dm->gid()));
            CHECK(dm->state() == db::pg_data_manager::phase::active);
            branches.emplace_back(dm->gid(), dm->participant_id());
        }
        CHECK(p1.labels().empty());  // not visible before the commit
    }
    REQUIRE(branches.size() == 2);
    CHECK(branches[0].second == test::pg_dsn() + p1.name);
    CHECK(main.notes() == std::vector<std::string>{"main"});
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    CHECK(p2.labels() == std::vector<std::string>{"two"});
    for (const auto& [gid, who] : branches) CHECK(tpc::decisions::lookup(*main.db, gid) == tpc::outcome::commit);
    CHECK(p1.prepared_gids().empty());
    CHECK(p2.prepared_gids().empty());
    CHECK(main.db->in_use() == 0);
}

TEST_CASE("pg participant: the same DSN in one transaction is one connection; a new cycle gets a new one") {
    main_database main(main_kind::sqlite);
    participant p1("a_part");
    participant p2("b_part");
    auto scope = begin(main.db, 0);
    db::connection& first = db::pg_join(p1.dsn, {"ch"});
    db::connection& again = db::pg_join(p1.dsn, {{"ch", "x"}});
    db::connection& other = db::pg_join(p2.dsn);
    CHECK(&first == &again);
    CHECK(&first != &other);
    auto dms = pg_dms(scope->coordinator());
    REQUIRE(dms.size() == 2);
    CHECK(dms[0]->notifications().size() == 2);
    CHECK(dms[0]->owns_connection());
    first.execute("INSERT INTO item VALUES (1, 'one')");
    CHECK(p1.tpc_sessions(1) == 1);
    scope->commit();  // explicit commit: the cycle ends, the connections close (`first` is gone)
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    CHECK(p1.tpc_sessions(0) == 0);
    db::connection& next = db::pg_join(p1.dsn);
    CHECK(next.is_open());
    next.execute("INSERT INTO item VALUES (2, 'two')");
    scope->rollback();
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    CHECK(p1.prepared_gids().empty());
}

TEST_CASE("pg participant: transaction control on the joined connection is refused while the branch is open") {
    main_database main(main_kind::sqlite);
    participant p1("a_part");
    {
        auto scope = begin(main.db, 0);
        db::connection& c = db::pg_join(p1.dsn);
        c.execute("INSERT INTO item VALUES (1, 'one')");
        CHECK_THROWS_AS(c.commit(), db::programming_error);
        CHECK_THROWS_AS(c.rollback(), db::programming_error);
        CHECK_THROWS_AS(c.begin({}), db::programming_error);
        for (const char* sql : {"COMMIT", "commit work", "ROLLBACK", "END", "ABORT", "BEGIN",
                                "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'", "NOTIFY ch", "LISTEN ch",
                                "SELECT pg_notify('ch', 'x')"}) {
            CAPTURE(sql);
            CHECK_THROWS_AS(c.execute(sql), db::programming_error);
        }
        // Savepoints stay allowed.
        c.execute("SAVEPOINT s");
        c.execute("INSERT INTO item VALUES (2, 'two')");
        c.execute("ROLLBACK TO SAVEPOINT s");
        c.savepoint("t");
        c.release_savepoint("t");
    }
    CHECK(p1.labels() == std::vector<std::string>{"one"});
}

TEST_CASE("pg participant: a participant failing at vote leaves nothing committed anywhere") {
    main_database main(pick_main());
    participant p1("a_part");
    participant p2("b_part");  // sorts after p1: p1 is prepared when p2's PREPARE fails
    std::string gid1;
    {
        quiet_log quiet;
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
        auto& c2 = db::pg_join(p2.dsn);
        c2.execute("INSERT INTO uniq VALUES (1)");
        c2.execute("INSERT INTO uniq VALUES (1)");  // deferred: PREPARE TRANSACTION fails
        gid1 = pg_dms(scope->coordinator()).at(0)->gid();
        CHECK_THROWS_AS(scope->commit(), db::integrity_error);
    }
    CHECK(main.notes().empty());
    CHECK(p1.labels().empty());
    CHECK(run(*p2.db, "SELECT count(*) FROM uniq").rows[0][0] == db::value(std::int64_t{0}));
    CHECK(p1.prepared_gids().empty());
    CHECK(p2.prepared_gids().empty());
    CHECK_FALSE(tpc::decisions::lookup(*main.db, gid1).has_value());
}

TEST_CASE("pg participant: a PREPARE that rolls back because of an earlier error is a no vote") {
    main_database main(main_kind::postgresql);
    participant p1("a_part");
    {
        quiet_log quiet;
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        auto& c = db::pg_join(p1.dsn);
        c.execute("INSERT INTO item VALUES (1, 'one')");
        CHECK_THROWS_AS(c.execute("INSERT INTO item VALUES (1, 'dup')"), db::integrity_error);
        CHECK_THROWS_AS(scope->commit(), db::programming_error);
    }
    CHECK(main.notes().empty());
    CHECK(p1.labels().empty());
    CHECK(p1.prepared_gids().empty());
}

TEST_CASE("pg participant: a main commit failing after the votes rolls the participants back") {
    main_database main(pick_main());
    participant p1("a_part");
    participant p2("b_part");
    std::vector<std::string> gids;
    {
        quiet_log quiet;
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        scope->connection().execute("INSERT INTO child VALUES (1, 99)");  // deferred FK: COMMIT fails
        db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
        db::pg_join(p2.dsn).execute("INSERT INTO item VALUES (2, 'two')");
        for (auto* dm : pg_dms(scope->coordinator())) gids.push_back(dm->gid());
        CHECK_THROWS_AS(scope->commit(), db::integrity_error);
    }
    CHECK(main.notes().empty());
    CHECK(p1.labels().empty());
    CHECK(p2.labels().empty());
    CHECK(p1.prepared_gids().empty());
    CHECK(p2.prepared_gids().empty());
    for (const auto& gid : gids) CHECK_FALSE(tpc::decisions::lookup(*main.db, gid).has_value());
}

TEST_CASE("pg participant: NOTIFY is sent after the commit, quoted, de-duplicated; never after a rollback") {
    main_database main(main_kind::sqlite);
    participant p1("a_part");
    listener listen(p1.dsn, {"Orders", "plain"});
    {
        auto scope = begin(main.db, 0);
        auto& c = db::pg_join(p1.dsn, {{"Orders", "it's \"quoted\""}});
        c.execute("INSERT INTO item VALUES (1, 'one')");
        db::pg_join(p1.dsn, {"plain", {"Orders", "it's \"quoted\""}});
        CHECK(listen.receive(1, 100ms).empty());  // nothing before the commit
    }
    auto got = listen.receive(2, 5s);
    REQUIRE(got.size() == 2);
    CHECK(got[0] == std::make_pair(std::string("Orders"), std::string("it's \"quoted\"")));
    CHECK(got[1] == std::make_pair(std::string("plain"), std::string()));

    {
        auto scope = begin(main.db, 0);
        db::pg_join(p1.dsn, {"plain"}).execute("INSERT INTO item VALUES (2, 'two')");
        scope->rollback();
    }
    CHECK(listen.receive(3, 300ms).size() == 2);
}

TEST_CASE("pg participant: joining an existing connection") {
    main_database main(main_kind::postgresql);
    participant p1("a_part");
    auto conn = p1.db->acquire();
    {
        auto scope = begin(main.db, 0);
        db::pg_join(*conn, {"plain"});
        db::pg_join(*conn, *scope);  // the same connection twice: one data manager
        CHECK(pg_dms(scope->coordinator()).size() == 1);
        auto& dm = only_dm(scope->coordinator());
        CHECK_FALSE(dm.owns_connection());
        CHECK(dm.participant_id() == test::pg_dsn() + p1.name);
        CHECK(&dm.user_connection() == conn.get());
        conn->execute("INSERT INTO item VALUES (1, 'one')");
    }
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    // Not closed, idle again, usable.
    CHECK(conn->is_open());
    CHECK_FALSE(conn->in_transaction());
    CHECK(std::get<std::int64_t>(conn->execute("SELECT count(*) FROM item").rows[0][0]) == 1);

    // A busy connection is refused.
    conn->begin({});
    {
        auto scope = begin(main.db, 0);
        CHECK_THROWS_AS(db::pg_join(*conn), db::programming_error);
        CHECK(pg_dms(scope->coordinator()).empty());
    }
    conn->rollback();
    // A SQLite connection is refused.
    main_database other(main_kind::sqlite);
    auto sqlite_conn = other.db->acquire();
    {
        auto scope = begin(main.db, 0);
        CHECK_THROWS_AS(db::pg_join(*sqlite_conn), db::programming_error);
    }
    sqlite_conn.return_to_pool();
    conn.return_to_pool();
}

TEST_CASE("pg participant: recovery finishes a branch left prepared by a crash, from the decision record") {
    main_database main(pick_main());
    participant p1("a_part");
    for (const bool with_record : {true, false}) {
        CAPTURE(with_record);
        run(*p1.db, "DELETE FROM item");
        // A coordinator that voted and died: no finish, no abort.
        std::string gid;
        std::string who;
        {
            tpc::coordinator core(tpc::facade::zope);
            db::pg_join(p1.dsn, core).execute("INSERT INTO item VALUES (1, 'one')");
            auto& dm = only_dm(core);
            gid = dm.gid();
            who = dm.participant_id();
            dm.tpc_vote(core);
            CHECK(dm.state() == db::pg_data_manager::phase::prepared);
        }
        CHECK(p1.prepared_gids() == std::vector<std::string>{gid});
        if (with_record) {
            auto scope = begin(main.db, 0);
            tpc::decisions::record_commit(scope->connection(), gid, who);
        }

        quiet_log quiet;
        db::pg_participant_store store(p1.dsn);
        CHECK(store.participant_id() == who);
        CHECK(store.in_doubt() == std::vector<std::string>{gid});
        auto report = tpc::recover(*main.db, {&store});
        CHECK(report.failed == 0);
        CHECK(report.committed == (with_record ? 1 : 0));
        CHECK(report.rolled_back == (with_record ? 0 : 1));
        CHECK(p1.labels() == (with_record ? std::vector<std::string>{"one"} : std::vector<std::string>{}));
        CHECK(p1.prepared_gids().empty());
        CHECK(tpc::decisions::lookup(*main.db, gid) == (with_record ? tpc::outcome::commit : tpc::outcome::abort));
        // Finishing again is harmless (42704 counts as done).
        CHECK_NOTHROW(store.commit(gid));
        CHECK_NOTHROW(store.rollback(gid));
        CHECK(store.in_doubt().empty());
    }
}

TEST_CASE("pg participant: the store skips foreign and young branches") {
    participant p1("a_part");
    {
        auto conn = p1.db->acquire();
        conn->execute("BEGIN");
        conn->execute("INSERT INTO item VALUES (9, 'foreign')");
        conn->execute("PREPARE TRANSACTION 'someone-else'");
        conn.discard();
    }
    std::string gid;
    {
        tpc::coordinator core(tpc::facade::zope);
        db::pg_join(p1.dsn, core).execute("INSERT INTO item VALUES (1, 'one')");
        gid = only_dm(core).gid();
        only_dm(core).tpc_vote(core);
    }
    CHECK(db::pg_participant_store(p1.dsn).in_doubt() == std::vector<std::string>{gid});
    CHECK(db::pg_participant_store(p1.dsn, std::chrono::seconds(3600)).in_doubt().empty());
    p1.rollback_prepared("someone-else");
    p1.rollback_prepared(gid);
}

TEST_CASE("pg participant: a coordinator merely slow races recovery on the decision key") {
    const main_kind kind = pick_main();
    main_database main(kind);
    participant p1("a_part");
    quiet_log quiet;
    std::future<tpc::recovery_report> recovery;
    std::string gid;
    auto run_recovery = [&] {
        return std::async(std::launch::async, [&] {
            db::pg_participant_store store(p1.dsn);
            return tpc::recover(*main.db, {&store});
        });
    };
    auto scope = begin(main.db, 0);
    scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
    db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
    gid = only_dm(scope->coordinator()).gid();
    // After p1 voted and before the coordinator writes its record, a recovery pass runs.
    scope->join(std::make_shared<hook_dm>([&] {
        REQUIRE(p1.prepared_gids() == std::vector<std::string>{gid});
        recovery = run_recovery();
        if (kind == main_kind::postgresql) {
            recovery.wait();  // nothing holds it up: it decides abort and rolls the branch back
        } else {
            // SQLite: the coordinator holds the write lock, recovery waits for its outcome.
            CHECK(recovery.wait_for(200ms) == std::future_status::timeout);
        }
    }));
    if (kind == main_kind::postgresql) {
        CHECK_THROWS_AS(scope->commit(), db::integrity_error);  // the abort marker won
        auto report = recovery.get();
        CHECK(report.rolled_back == 1);
        CHECK(report.failed == 0);
        scope.close(true);
        CHECK(main.notes().empty());
        CHECK(p1.labels().empty());
        CHECK(tpc::decisions::lookup(*main.db, gid) == tpc::outcome::abort);
    } else {
        scope->commit();  // the coordinator won; recovery follows its record
        auto report = recovery.get();
        CHECK(report.committed == 1);
        CHECK(report.failed == 0);
        scope.close(true);
        CHECK(main.notes() == std::vector<std::string>{"main"});
        CHECK(p1.labels() == std::vector<std::string>{"one"});
        CHECK(tpc::decisions::lookup(*main.db, gid) == tpc::outcome::commit);
    }
    CHECK(p1.prepared_gids().empty());
}

TEST_CASE("pg participant: a connection lost between vote and finish is replaced to finish the branch") {
    main_database main(main_kind::sqlite);
    participant p1("a_part");
    listener listen(p1.dsn, {"done"});
    quiet_log quiet;
    {
        auto scope = begin(main.db, 0);
        db::pg_join(p1.dsn, {{"done", "1"}}).execute("INSERT INTO item VALUES (1, 'one')");
        auto& dm = only_dm(scope->coordinator());
        scope->join(std::make_shared<hook_dm>([&] {
            // p1 has voted: its session dies (as in a server restart of that backend).
            run(*p1.db, "SELECT pg_terminate_backend(?)", {std::int64_t{dm.raw_connection()->backend_pid()}});
        }));
    }
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    CHECK(p1.prepared_gids().empty());
    auto got = listen.receive(1, 5s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].second == "1");
}
