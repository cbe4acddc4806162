// The PostgreSQL two-phase-commit participant (SPEC §5.1–§5.3) against the
// real test cluster: pg_join in Tryton transactions whose main database is
// SQLite (a temporary directory) or PostgreSQL, two participant databases,
// vote and main-commit failures, NOTIFY after the commit, joining an existing
// connection (recovery: pg_participant_recovery_test.cpp; fixtures:
// pg_participant_fixtures.hpp).
//
// Not covered here: a server with max_prepared_transactions = 0 (the test
// cluster runs with 50 and a second cluster costs an initdb); the refusal is a
// SHOW at join (pg_participant.cpp require_prepared_transactions).

#include "tests/participants/pg_participant_fixtures.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace atrium;
using namespace std::chrono_literals;
using namespace atrium::test::pg_participant_fixtures;

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

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("pg participant: the branch obeys the call's deadline: a slow statement is cancelled, nothing commits") {
    main_database main(pick_main());
    participant p1("a_part");
    const auto start = std::chrono::steady_clock::now();
    {
        quiet_log quiet;
        call_limits_scope limits({start + 500ms, nullptr});
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        auto& branch = db::pg_join(p1.dsn);
        branch.execute("INSERT INTO item VALUES (1, 'one')");
        // The branch's statement timeout is the time left, not the server's default (0).
        const auto shown = branch.execute("SHOW statement_timeout");
        REQUIRE(shown.size() == 1);
        CHECK(std::get<std::string>(shown.rows.at(0).at(0)) != "0");
        CHECK_THROWS_AS(branch.execute("SELECT pg_sleep(10)"), db::timeout_error);
    }
    CHECK(seconds_since(start) < 3.0);
    CHECK(main.notes().empty());
    CHECK(p1.labels().empty());
    CHECK(p1.prepared_gids().empty());
}

TEST_CASE("pg participant: cancelling the call (client gone) cancels the branch's running statement") {
    main_database main(pick_main());
    participant p1("a_part");
    auto cancel = std::make_shared<db::cancellation>();
    const auto start = std::chrono::steady_clock::now();
    std::thread canceller([&] {
        std::this_thread::sleep_for(300ms);
        cancel->cancel();
    });
    {
        quiet_log quiet;
        call_limits_scope limits({start + 60s, cancel});
        auto scope = begin(main.db, 0);
        auto& branch = db::pg_join(p1.dsn);
        branch.execute("INSERT INTO item VALUES (1, 'one')");
        CHECK_THROWS_AS(branch.execute("SELECT pg_sleep(10)"), db::timeout_error);
    }
    canceller.join();
    CHECK(seconds_since(start) < 3.0);
    CHECK(p1.labels().empty());
    CHECK(p1.prepared_gids().empty());
}

TEST_CASE("pg participant: a deadline passed before the vote: PREPARE is refused and everything rolls back") {
    main_database main(pick_main());
    participant p1("a_part");
    participant p2("b_part");
    std::vector<std::string> gids;
    {
        quiet_log quiet;
        call_limits_scope limits({std::chrono::steady_clock::now() + 300ms, nullptr});
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
        db::pg_join(p2.dsn).execute("INSERT INTO item VALUES (2, 'two')");
        for (auto* dm : pg_dms(scope->coordinator())) gids.push_back(dm->gid());
        std::this_thread::sleep_for(400ms);
        try {
            scope->commit();
            FAIL("committed past the deadline");
        } catch (const db::timeout_error& e) {
            CHECK(e.category() == error_category::timeout);
        }
        for (auto* dm : pg_dms(scope->coordinator())) CHECK(dm->state() == db::pg_data_manager::phase::aborted);
    }
    CHECK(main.notes().empty());
    CHECK(p1.labels().empty());
    CHECK(p2.labels().empty());
    CHECK(p1.prepared_gids().empty());
    CHECK(p2.prepared_gids().empty());
    for (const auto& gid : gids) CHECK_FALSE(tpc::decisions::lookup(*main.db, gid).has_value());
}

namespace {

// Finished before every participant: runs `on_finish` between the commit
// decision and the participants' COMMIT PREPARED.
struct finish_hook_dm final : tpc::data_manager {
    std::function<void()> on_finish;
    explicit finish_hook_dm(std::function<void()> fn) : on_finish(std::move(fn)) {}
    std::string sort_key() const override { return "!-before-every-participant"; }
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator&) override {}
    void tpc_finish(tpc::coordinator&) override { on_finish(); }
    void tpc_abort(tpc::coordinator&) override {}
    void abort(tpc::coordinator&) override {}
};

}  // namespace

TEST_CASE("pg participant: past the deadline a decided branch is not reconnected to: recovery finishes it") {
    main_database main(main_kind::sqlite);
    participant p1("a_part");
    const auto until = std::chrono::steady_clock::now() + 1500ms;
    std::string gid;
    std::string who;
    {
        quiet_log quiet;
        call_limits_scope limits({until, nullptr});
        auto scope = begin(main.db, 0);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
        db::pg_join(p1.dsn).execute("INSERT INTO item VALUES (1, 'one')");
        auto& dm = only_dm(scope->coordinator());
        gid = dm.gid();
        who = dm.participant_id();
        scope->join(std::make_shared<finish_hook_dm>([&] {
            // Decided: the branch's session dies, and the call's time runs out.
            run(*p1.db, "SELECT pg_terminate_backend(?)", {std::int64_t{dm.raw_connection()->backend_pid()}});
            std::this_thread::sleep_until(until + 100ms);
        }));
        CHECK_NOTHROW(scope->commit());  // decided: the call is answered as committed
    }
    CHECK(main.notes() == std::vector<std::string>{"main"});
    CHECK(tpc::decisions::lookup(*main.db, gid) == tpc::outcome::commit);
    CHECK(p1.prepared_gids() == std::vector<std::string>{gid});  // left to recovery
    quiet_log quiet;
    db::pg_participant_store store(p1.dsn);
    auto report = tpc::recover(*main.db, {&store});
    CHECK(report.committed == 1);
    CHECK(p1.labels() == std::vector<std::string>{"one"});
    CHECK(p1.prepared_gids().empty());
}
