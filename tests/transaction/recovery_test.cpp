// SPEC §5.3 crash safety, backend-neutral (conformance suite: SQLite and
// PostgreSQL main databases): gids, the decision records, the race between a
// recovery pass and a coordinator on the record's unique key, and recover()
// driving participant stores (a recording double here; the PostgreSQL store
// is tested in postgresql_tests).

#include "database/errors.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"
#include "transaction/tpc_identity.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace atrium;
using atrium::test::test_database;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A durable participant double: fixed gid, records its calls.
struct durable_dm final : tpc::recoverable_data_manager {
    std::string id;
    std::string participant;
    std::vector<std::string> calls;

    durable_dm(std::string gid, std::string participant_name)
        : id(std::move(gid)), participant(std::move(participant_name)) {}
    const std::string& gid() const override { return id; }
    std::string participant_id() const override { return participant; }
    void tpc_begin(tpc::coordinator&) override { calls.push_back("tpc_begin"); }
    void commit(tpc::coordinator&) override { calls.push_back("commit"); }
    void tpc_vote(tpc::coordinator&) override { calls.push_back("tpc_vote"); }
    void tpc_finish(tpc::coordinator&) override { calls.push_back("tpc_finish"); }
    void tpc_abort(tpc::coordinator&) override { calls.push_back("tpc_abort"); }
    void abort(tpc::coordinator&) override { calls.push_back("abort"); }
};

// A participant store double: what it holds in doubt, and the calls it got.
struct recording_store final : tpc::participant_store {
    std::string id;
    std::vector<std::string> doubt;
    std::set<std::string> failing;  // commit/rollback of these throw
    bool listing_fails = false;
    std::vector<std::string> calls;

    explicit recording_store(std::string participant) : id(std::move(participant)) {}
    std::string participant_id() const override { return id; }
    std::vector<std::string> in_doubt() override {
        if (listing_fails) throw std::runtime_error("store " + id + " unreachable");
        return doubt;
    }
    void commit(const std::string& gid) override { finish("commit", gid); }
    void rollback(const std::string& gid) override { finish("rollback", gid); }

private:
    void finish(const char* what, const std::string& gid) {
        calls.push_back(std::string(what) + " " + gid);
        if (failing.contains(gid)) throw std::runtime_error(std::string(what) + " of " + gid + " failed");
        std::erase(doubt, gid);
    }
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Commits a decision record the way the coordinator does (inside a main transaction).
void commit_record(test_database& f, const std::string& gid, const std::string& participant = "p") {
    auto scope = begin(f.db, 0);
    tpc::decisions::record_commit(scope->connection(), gid, participant);
}

// A record with a chosen age, written directly.
void insert_record(test_database& f, const std::string& gid, const std::string& participant,
                   const std::string& outcome, std::int64_t age_seconds) {
    tpc::decisions::ensure_table(*f.db);
    f.execute("INSERT INTO atrium_tpc_decision (gid, participant, outcome, created) VALUES (?, ?, ?, ?)",
              {gid, participant, outcome, unix_now() - age_seconds});
}

std::int64_t record_count(test_database& f) {
    tpc::decisions::ensure_table(*f.db);
    auto rows = f.execute("SELECT count(*) FROM atrium_tpc_decision");
    return std::get<std::int64_t>(rows.rows.at(0).at(0));
}

// Silences the expected error lines of recover().
struct quiet_log {
    std::vector<std::string> lines;
    scoped_log_sink sink{[this](log_level, std::string_view text) { lines.emplace_back(text); }};
};

}  // namespace

TEST_CASE("§5.3 gids: atrium- prefix and 32 lowercase hex digits, random, recognisable") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string gid = tpc::new_gid();
        CHECK(gid.size() == 7 + 32);
        CHECK(gid.rfind("atrium-", 0) == 0);
        CHECK(gid.size() <= 199);
        CHECK(gid.find('_') == std::string::npos);
        CHECK(tpc::is_atrium_gid(gid));
        seen.insert(gid);
    }
    CHECK(seen.size() == 1000);
    CHECK_FALSE(tpc::is_atrium_gid(""));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-"));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-0123456789abcdef0123456789ABCDEF"));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-0123456789abcdef0123456789abcde"));
    CHECK_FALSE(tpc::is_atrium_gid("other-0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-0123456789abcdef0123456789abcdef0"));
    CHECK(tpc::is_atrium_gid("atrium-0123456789abcdef0123456789abcdef"));
}

TEST_CASE("§5.3 ensure_table is idempotent; lookup of an unknown gid is empty") {
    test_database f;
    tpc::decisions::ensure_table(*f.db);
    tpc::decisions::ensure_table(*f.db);
    CHECK_FALSE(tpc::decisions::lookup(*f.db, tpc::new_gid()).has_value());
    CHECK(record_count(f) == 0);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§5.3 record_commit creates the table inside the main transaction and commits with it") {
    test_database f;
    const auto gid = tpc::new_gid();
    {
        auto scope = begin(f.db, 0);
        tpc::decisions::record_commit(scope->connection(), gid, "postgresql://u@h:1/db");
        scope->connection().execute("INSERT INTO note (text) VALUES ('x')");
    }
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::commit);
    auto rows = f.execute("SELECT participant, outcome FROM atrium_tpc_decision WHERE gid = ?", {gid});
    REQUIRE(rows.size() == 1);
    CHECK(std::get<std::string>(rows.rows[0][0]) == "postgresql://u@h:1/db");
    CHECK(std::get<std::string>(rows.rows[0][1]) == "commit");

    // A rolled back main transaction leaves no record.
    const auto other = tpc::new_gid();
    {
        auto scope = begin(f.db, 0);
        tpc::decisions::record_commit(scope->connection(), other, "p");
        scope->rollback();
    }
    CHECK_FALSE(tpc::decisions::lookup(*f.db, other).has_value());
    CHECK_THROWS_AS(
        [&] {
            auto scope = begin(f.db, 0);
            tpc::decisions::record_commit(scope->connection(), "not-a-gid", "p");
        }(),
        std::invalid_argument);
}

TEST_CASE("§5.3 the Tryton commit writes a record for every voted recoverable data manager") {
    test_database f;
    auto a = std::make_shared<durable_dm>(tpc::new_gid(), "store-a");
    auto b = std::make_shared<durable_dm>(tpc::new_gid(), "store-b");
    {
        auto scope = begin(f.db, 0);
        scope->join(a);
        scope->join(b);
        scope->connection().execute("INSERT INTO note (text) VALUES ('main')");
    }
    CHECK(tpc::decisions::lookup(*f.db, a->gid()) == tpc::outcome::commit);
    CHECK(tpc::decisions::lookup(*f.db, b->gid()) == tpc::outcome::commit);
    CHECK(a->calls == std::vector<std::string>{"tpc_begin", "commit", "tpc_vote", "tpc_finish"});
    CHECK(f.committed_notes() == std::vector<std::string>{"main"});
}

TEST_CASE("§5.3 decide: a committed record means commit") {
    test_database f;
    const auto gid = tpc::new_gid();
    commit_record(f, gid);
    CHECK(tpc::decisions::decide(*f.db, gid, "p") == tpc::outcome::commit);
    CHECK(tpc::decisions::decide(*f.db, gid, "p") == tpc::outcome::commit);
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::commit);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§5.3 decide: no record ⇒ an abort marker wins, and the late coordinator's commit fails") {
    test_database f;
    const auto gid = tpc::new_gid();
    CHECK(tpc::decisions::decide(*f.db, gid, "p") == tpc::outcome::abort);
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::abort);
    // Deciding again keeps the decision.
    CHECK(tpc::decisions::decide(*f.db, gid, "p") == tpc::outcome::abort);

    SUBCASE("record_commit itself fails with integrity_error") {
        auto scope = begin(f.db, 0);
        CHECK_THROWS_AS(tpc::decisions::record_commit(scope->connection(), gid, "p"), db::integrity_error);
        scope->rollback();
    }
    SUBCASE("a coordinator with that participant fails its commit and aborts everything") {
        auto dm = std::make_shared<durable_dm>(gid, "p");
        auto scope = begin(f.db, 0);
        scope->join(dm);
        scope->connection().execute("INSERT INTO note (text) VALUES ('lost')");
        CHECK_THROWS_AS(scope->commit(), db::integrity_error);
        CHECK(dm->calls == std::vector<std::string>{"tpc_begin", "commit", "tpc_vote", "tpc_abort"});
    }
    CHECK(f.committed_notes().empty());
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::abort);
}

TEST_CASE("§5.3 decide waits for a coordinator whose record is pending, and follows its outcome") {
    test_database f;
    tpc::decisions::ensure_table(*f.db);
    bool coordinator_commits = true;
    SUBCASE("the coordinator commits") { coordinator_commits = true; }
    SUBCASE("the coordinator rolls back") { coordinator_commits = false; }
    const auto gid = tpc::new_gid();

    auto scope = begin(f.db, 0);
    tpc::decisions::record_commit(scope->connection(), gid, "p");

    const auto started = steady_clock::now();
    auto decided = std::async(std::launch::async, [&] {
        auto outcome = tpc::decisions::decide(*f.db, gid, "p");
        return std::make_pair(outcome, steady_clock::now() - started);
    });
    // Give decide() time to get stuck behind the pending insert / write lock.
    CHECK(decided.wait_for(150ms) == std::future_status::timeout);
    if (coordinator_commits) {
        scope->commit();
    } else {
        scope->rollback();
    }
    const auto [outcome, took] = decided.get();
    scope.close(true);
    CHECK(took >= 140ms);
    CHECK(outcome == (coordinator_commits ? tpc::outcome::commit : tpc::outcome::abort));
    CHECK(tpc::decisions::lookup(*f.db, gid) == outcome);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§5.3 recover() commits what has a record, rolls back the rest, counts failures") {
    test_database f;
    quiet_log quiet;
    const auto with_record = tpc::new_gid();
    const auto without_record = tpc::new_gid();
    const auto failing = tpc::new_gid();
    commit_record(f, with_record, "store");
    commit_record(f, failing, "store");

    recording_store store("store");
    store.doubt = {with_record, without_record, failing, "not-ours"};
    store.failing = {failing};
    recording_store unreachable("unreachable");
    unreachable.listing_fails = true;

    auto report = tpc::recover(*f.db, {&store, &unreachable});
    CHECK(report.committed == 1);
    CHECK(report.rolled_back == 1);
    CHECK(report.failed == 2);  // one gid, one store
    CHECK(report.forgotten == 0);  // the records are younger than the listing margin
    CHECK(store.calls == std::vector<std::string>{"commit " + with_record, "rollback " + without_record,
                                                  "commit " + failing});
    CHECK(store.doubt == std::vector<std::string>{failing, "not-ours"});
    CHECK(tpc::decisions::lookup(*f.db, without_record) == tpc::outcome::abort);
    CHECK(tpc::decisions::lookup(*f.db, with_record) == tpc::outcome::commit);
    CHECK(quiet.lines.size() >= 2);
    CHECK(f.db->in_use() == 0);

    // The next pass finishes the failed one.
    store.failing.clear();
    report = tpc::recover(*f.db, {&store});
    CHECK(report.committed == 1);
    CHECK(report.rolled_back == 0);
    CHECK(report.failed == 0);
    CHECK(store.doubt == std::vector<std::string>{"not-ours"});
}

TEST_CASE("§5.3 recover() forgets the finished records of the stores it listed, nothing else") {
    test_database f;
    const auto finished = tpc::new_gid();        // old commit record, no longer in doubt → forgotten
    const auto in_doubt = tpc::new_gid();        // old commit record, store fails to commit it → kept
    const auto recent = tpc::new_gid();          // fresh commit record (its participant may prepare later) → kept
    const auto other_store = tpc::new_gid();     // old commit record of a store not listed → kept
    const auto old_abort = tpc::new_gid();       // abort marker older than keep → forgotten
    const auto young_abort = tpc::new_gid();     // abort marker younger than keep → kept
    insert_record(f, finished, "store", "commit", 3600);
    insert_record(f, in_doubt, "store", "commit", 3600);
    insert_record(f, recent, "store", "commit", 0);
    insert_record(f, other_store, "mail", "commit", 3600);
    insert_record(f, old_abort, "store", "abort", 7200);
    insert_record(f, young_abort, "store", "abort", 60);

    quiet_log quiet;
    recording_store store("store");
    store.doubt = {in_doubt};
    store.failing = {in_doubt};
    auto report = tpc::recover(*f.db, {&store}, std::chrono::hours(1));
    CHECK(report.failed == 1);
    CHECK(report.forgotten == 2);
    CHECK_FALSE(tpc::decisions::lookup(*f.db, finished).has_value());
    CHECK_FALSE(tpc::decisions::lookup(*f.db, old_abort).has_value());
    CHECK(tpc::decisions::lookup(*f.db, in_doubt) == tpc::outcome::commit);
    CHECK(tpc::decisions::lookup(*f.db, recent) == tpc::outcome::commit);
    CHECK(tpc::decisions::lookup(*f.db, other_store) == tpc::outcome::commit);
    CHECK(tpc::decisions::lookup(*f.db, young_abort) == tpc::outcome::abort);

    // The three-argument form considers every participant.
    CHECK(tpc::decisions::forget_finished(*f.db, {in_doubt}, std::chrono::hours(1)) == 1);
    CHECK_FALSE(tpc::decisions::lookup(*f.db, other_store).has_value());
    CHECK(record_count(f) == 3);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§5.3 a first decision record whose main transaction rolls back does not break the next one") {
    test_database f;
    // One pooled connection, so the second transaction reuses the first's.
    const auto first = tpc::new_gid();
    {
        auto scope = begin(f.db, 0);
        tpc::decisions::record_commit(scope->connection(), first, "p");  // creates the table, uncommitted
        scope->rollback();
    }
    const auto second = tpc::new_gid();
    {
        auto scope = begin(f.db, 0);
        tpc::decisions::record_commit(scope->connection(), second, "p");
    }
    CHECK_FALSE(tpc::decisions::lookup(*f.db, first).has_value());
    CHECK(tpc::decisions::lookup(*f.db, second) == tpc::outcome::commit);
}

// --- issue 17 point 6: gids name the database that holds their decision ------

TEST_CASE("issue 17: a gid names its decision database; old-format gids stay valid") {
    const std::string id = "0123456789abcdef0123456789abcdef";
    const auto gid = tpc::new_gid(id);
    CHECK(gid.size() == 72);
    CHECK(gid.rfind("atrium-" + id + "-", 0) == 0);
    CHECK(tpc::is_atrium_gid(gid));
    CHECK(tpc::gid_database(gid) == id);
    CHECK(tpc::new_gid(id) != gid);
    const auto old = tpc::new_gid();
    CHECK(tpc::is_atrium_gid(old));
    CHECK(tpc::gid_database(old).empty());
    CHECK_FALSE(tpc::is_atrium_gid("atrium-" + id + "_" + id));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-" + id + "-" + id + "0"));
    CHECK_FALSE(tpc::is_atrium_gid("atrium-0123456789ABCDEF0123456789abcdef-" + id));
    CHECK(tpc::gid_database("not-a-gid").empty());
    CHECK_THROWS_AS((void)tpc::new_gid("xyz"), std::invalid_argument);
    CHECK_THROWS_AS((void)tpc::new_gid("0123456789ABCDEF0123456789abcdef"), std::invalid_argument);
}

TEST_CASE("issue 17: a database's id is made once and kept in the database") {
    test_database f;
    CHECK_FALSE(tpc::read_database_id(*f.db).has_value());  // nothing created by reading
    const auto id = tpc::ensure_database_id(*f.db);
    CHECK(id.size() == 32);
    CHECK(id[12] == '4');  // a version-4 UUID
    CHECK(tpc::ensure_database_id(*f.db) == id);
    CHECK(tpc::read_database_id(*f.db) == id);
    CHECK(tpc::database_id(f.db) == id);
    const auto stored = f.execute("SELECT uuid FROM atrium_tpc_identity WHERE id = 1");
    CHECK(std::get<std::string>(stored.rows.at(0).at(0)) == tpc::format_uuid(id));
    CHECK(tpc::format_uuid(id).size() == 36);

    test_database other;
    CHECK(tpc::ensure_database_id(*other.db) != id);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("issue 17: a Tryton transaction's gids name its main database (made lazily for an old database)") {
    test_database f;
    std::string gid;
    {
        auto scope = begin(f.db, 0);
        gid = scope->coordinator().new_gid();
        CHECK(tpc::gid_database(scope->coordinator().new_gid()) == tpc::gid_database(gid));
        scope.close(true);  // on SQLite the id commits with the transaction
    }
    CHECK(tpc::is_atrium_gid(gid));
    const auto id = tpc::read_database_id(*f.db);
    REQUIRE(id.has_value());
    CHECK(tpc::gid_database(gid) == *id);
    {
        auto scope = begin(f.db, 0);
        CHECK(tpc::gid_database(scope->coordinator().new_gid()) == *id);
    }
    // A Zope-style transaction has no main database: old-format gids.
    tpc::coordinator zope(tpc::facade::zope);
    CHECK(tpc::gid_database(zope.new_gid()).empty());
}

TEST_CASE("issue 17: recover() decides each gid in the database it names and leaves the others alone") {
    test_database f1;
    test_database f2;
    quiet_log quiet;
    const auto id1 = tpc::ensure_database_id(*f1.db);
    const auto id2 = tpc::ensure_database_id(*f2.db);
    const auto committed2 = tpc::new_gid(id2);  // db2's coordinator committed
    const auto undecided2 = tpc::new_gid(id2);  // db2's coordinator died before its main commit
    const auto undecided1 = tpc::new_gid(id1);
    const auto foreign = tpc::new_gid("00000000000040008000000000000000");  // another deployment
    const auto old = tpc::new_gid();
    commit_record(f2, committed2, "store");

    recording_store store("store");
    store.doubt = {committed2, undecided2, undecided1, foreign, old};

    SUBCASE("from db1 alone: db2's and the foreign gids are not decided") {
        const auto report = tpc::recover(*f1.db, {&store});
        CHECK(report.rolled_back == 2);  // its own and the old-format gid
        CHECK(report.committed == 0);
        CHECK(report.foreign == 3);
        CHECK(store.doubt == std::vector<std::string>{committed2, undecided2, foreign});
        CHECK_FALSE(tpc::decisions::lookup(*f1.db, committed2).has_value());
        CHECK(tpc::decisions::lookup(*f1.db, undecided1) == tpc::outcome::abort);
        CHECK(tpc::decisions::lookup(*f1.db, old) == tpc::outcome::abort);
    }
    SUBCASE("from both: each in its own database; old gids only in the legacy one") {
        tpc::database_list directory({f1.db.get(), f2.db.get()}, f2.db.get());
        const auto report = tpc::recover(directory, {&store});
        CHECK(report.committed == 1);
        CHECK(report.rolled_back == 3);
        CHECK(report.foreign == 1);
        CHECK(store.doubt == std::vector<std::string>{foreign});
        CHECK(std::find(store.calls.begin(), store.calls.end(), "commit " + committed2) != store.calls.end());
        CHECK(tpc::decisions::lookup(*f2.db, undecided2) == tpc::outcome::abort);
        CHECK_FALSE(tpc::decisions::lookup(*f1.db, undecided2).has_value());
        CHECK(tpc::decisions::lookup(*f1.db, undecided1) == tpc::outcome::abort);
        CHECK(tpc::decisions::lookup(*f2.db, old) == tpc::outcome::abort);
        CHECK_FALSE(tpc::decisions::lookup(*f1.db, foreign).has_value());
        CHECK_FALSE(tpc::decisions::lookup(*f2.db, foreign).has_value());
    }
    SUBCASE("without a legacy database, old-format gids are left alone too") {
        tpc::database_list directory({f1.db.get(), f2.db.get()}, nullptr);
        const auto report = tpc::recover(directory, {&store});
        CHECK(report.foreign == 2);
        CHECK(store.doubt == std::vector<std::string>{foreign, old});
    }
}

TEST_CASE("issue 17: an operator's decision is recorded once; overruling replaces it") {
    test_database f;
    const auto id = tpc::ensure_database_id(*f.db);
    const auto gid = tpc::new_gid(id);
    CHECK(tpc::decisions::settle(*f.db, gid, "p", tpc::outcome::commit) == tpc::outcome::commit);
    CHECK(tpc::decisions::settle(*f.db, gid, "p", tpc::outcome::abort) == tpc::outcome::commit);
    tpc::decisions::overrule(*f.db, gid, "p", tpc::outcome::abort);
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::abort);
    CHECK_THROWS_AS(tpc::decisions::settle(*f.db, "nope", "p", tpc::outcome::abort), std::invalid_argument);
}
