// The PostgreSQL two-phase-commit participant (SPEC §5.3) against the real test
// cluster: recovery of branches left prepared (crash) or raced by a slow
// coordinator, and a connection lost between vote and finish (fixtures:
// pg_participant_fixtures.hpp).

#include "tests/participants/pg_participant_fixtures.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace atrium;
using namespace std::chrono_literals;
using namespace atrium::test::pg_participant_fixtures;

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
