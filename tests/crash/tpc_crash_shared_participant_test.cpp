// Crash safety of two-phase commit (issue 17 point 6): several main databases
// share one participant; recovery from either side (shared set-up: crash_setup.hpp).

#include "tests/crash/crash_setup.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace atrium;
namespace fs = std::filesystem;
using atrium::test::temp_dir;
using namespace atrium::test::crash;

// --- several main databases, one shared participant (issue 17 point 6) ----

namespace {

/// Main databases of one deployment (a SQLite directory, or databases on the
/// shared cluster) with crash_row and a two-phase-commit id each.
struct deployment {
    std::string uri;
    std::unique_ptr<db::backend> backend;
    std::vector<std::string> names;
    std::map<std::string, std::shared_ptr<db::database>> open;
    fs::path maildir;
    fs::path staging;
    fs::path out_dir;

    deployment(const fs::path& dir, main_kind kind, const std::vector<std::string>& wanted)
        : maildir(dir / "mail"), staging(dir / "staging"), out_dir(dir / "out") {
        fs::create_directories(out_dir);
        uri = kind == main_kind::sqlite ? "sqlite://" + (dir / "db").string() : atrium::test::pg_dsn();
        backend = db::open_backend(uri);
        for (const auto& name : wanted) {
            backend->create(name);
            names.push_back(name);
            open[name] = backend->open(name);
            run_statement(*open[name], "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");
            tpc::ensure_database_id(*open[name]);  // as --init does
        }
    }
    ~deployment() {
        open.clear();
        if (uri.rfind("postgresql://", 0) != 0) return;
        for (const auto& name : names) {
            try {
                backend->drop(name);
            } catch (const std::exception& e) {
                MESSAGE("cannot drop " << name << ": " << std::string(e.what()));
            }
        }
    }
    db::database& operator[](const std::string& name) { return *open.at(name); }
    std::vector<std::string> helper_argv(const std::string& main, const std::string& warehouse_dsn,
                                         const std::string& run, const std::string& point) const {
        return {ATRIUM_TPC_CRASH_HELPER, uri, main, warehouse_dsn, "-", maildir.string(), staging.string(),
                (out_dir / (run + ".txt")).string(), run, point};
    }
    fs::path write_config(const fs::path& path, const std::string& main, const std::string& warehouse_dsn) const {
        std::ofstream out(path);
        out << "[database]\nuri = " << uri << "\nname = " << main << "\n[tpc]\nparticipants = " << warehouse_dsn
            << "\n[mail]\nmaildir = " << maildir.string() << "\n[files]\nstaging = " << staging.string() << "\n";
        return path;
    }
};

bool has_row(db::database& database, const std::string& run) {
    return count_of(database, "SELECT COUNT(*) FROM crash_row WHERE run = ?", {run}) == 1;
}

/// The shared warehouse: one participant database on the shared cluster.
struct warehouse_db {
    std::unique_ptr<db::backend> backend = db::open_backend(atrium::test::pg_dsn());
    std::string name = unique_stem() + "_wh";
    std::string dsn = atrium::test::pg_dsn() + name;
    std::shared_ptr<db::database> database;
    warehouse_db() {
        backend->create(name);
        database = backend->open(name);
        run_statement(*database, "CREATE TABLE crash_row (run TEXT PRIMARY KEY)");
    }
    ~warehouse_db() {
        try {
            db::pg_participant_store store(dsn);
            for (const auto& gid : store.in_doubt()) store.rollback(gid);
        } catch (const std::exception& e) {
            MESSAGE("warehouse clean-up: " << std::string(e.what()));
        }
        database.reset();
        try {
            backend->drop(name);
        } catch (const std::exception& e) {
            MESSAGE("cannot drop " << name << ": " << std::string(e.what()));
        }
    }
    std::vector<std::string> prepared() {
        const auto rows = [&] {
            auto conn = database->acquire();
            conn->begin({});
            auto r = conn->execute("SELECT gid FROM pg_prepared_xacts WHERE database = ? ORDER BY gid", {name});
            conn->commit();
            conn.return_to_pool();
            return r;
        }();
        std::vector<std::string> gids;
        for (const auto& row : rows.rows) gids.push_back(std::get<std::string>(row.front()));
        return gids;
    }
};

std::size_t count_files(const fs::path& dir) { return files_in(dir); }

void check_two_main_databases(main_kind kind, bool through_admin) {
    temp_dir dir{"atrium-crash-multi-"};
    warehouse_db warehouse;
    const std::string stem = unique_stem();
    const std::string db1 = stem + "_db1";
    const std::string db2 = stem + "_db2";
    deployment ours(dir / "ours", kind, {db1, db2});
    // A second deployment (its own SQLite directory) sharing the warehouse.
    deployment theirs(dir / "theirs", main_kind::sqlite, {"other"});

    const std::string run = stem + "_run";
    const std::string foreign_run = stem + "_foreign";
    auto helper = run_process(ours.helper_argv(db2, warehouse.dsn, run, "after-main-commit"), dir / "helper.log");
    INFO("helper output:\n" << helper.output);
    REQUIRE(helper.signaled);
    auto other = run_process(theirs.helper_argv("other", warehouse.dsn, foreign_run, "after-main-commit"),
                             dir / "helper-other.log");
    INFO("other helper output:\n" << other.output);
    REQUIRE(other.signaled);

    // db2 committed its main transaction; both warehouse branches are prepared.
    CHECK(has_row(ours[db2], run));
    CHECK(has_row(theirs["other"], foreign_run));
    const auto before = warehouse.prepared();
    REQUIRE(before.size() == 2);
    std::string ours_gid;
    std::string their_gid;
    const auto db2_id = tpc::read_database_id(ours[db2]);
    const auto other_id = tpc::read_database_id(theirs["other"]);
    REQUIRE(db2_id);
    REQUIRE(other_id);
    for (const auto& gid : before) {
        if (tpc::gid_database(gid) == *db2_id) ours_gid = gid;
        if (tpc::gid_database(gid) == *other_id) their_gid = gid;
    }
    REQUIRE_FALSE(ours_gid.empty());  // the gid names db2, which holds its decision
    REQUIRE_FALSE(their_gid.empty());

    for (const auto& side : std::vector<std::string>{db1, db2}) {
        CAPTURE(side);
        // (Each side runs one pass; the second finds our branch finished.)
        if (through_admin) {
            const auto config = ours.write_config(dir / ("atrium-" + side + ".conf"), side, warehouse.dsn);
            const auto admin =
                run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, dir / ("admin-" + side + ".log"));
            INFO("atrium-admin output:\n" << admin.output);
            CHECK(admin.exit_code == 0);
            CHECK(admin.output.find("rolled back 0, failed 0") != std::string::npos);
        } else {
            db::pg_participant_store store(warehouse.dsn);
            mail_outbox_store mail(ours.maildir);
            file_manager_store files(ours.staging);
            tpc::database_list directory({&ours[db1], &ours[db2]}, &ours[side]);
            const auto report = tpc::recover(directory, {&store, &mail, &files});
            CHECK(report.rolled_back == 0);
            CHECK(report.failed == 0);
            CHECK(report.foreign == 1);  // the other deployment's branch
        }
        // The db2 branch ends committed whichever side recovered.
        CHECK(has_row(*warehouse.database, run));
        CHECK(count_files(ours.maildir / "new") == 1);
        CHECK(count_files(ours.maildir / "tmp") == 0);
        CHECK(count_files(ours.staging) == 0);
        CHECK(fs::exists(ours.out_dir / (run + ".txt")));
        // The other deployment's branch is never touched, no marker is written.
        CHECK(warehouse.prepared() == std::vector<std::string>{their_gid});
        CHECK_FALSE(has_row(*warehouse.database, foreign_run));
        CHECK_FALSE(tpc::decisions::lookup(ours[db1], their_gid).has_value());
        CHECK_FALSE(tpc::decisions::lookup(ours[db2], their_gid).has_value());
        CHECK_FALSE(tpc::decisions::lookup(ours[db1], ours_gid).has_value());
    }
    CHECK(tpc::decisions::lookup(ours[db2], ours_gid) == tpc::outcome::commit);

    // Its own recovery finishes it from its own decision.
    db::pg_participant_store store(warehouse.dsn);
    mail_outbox_store mail(theirs.maildir);
    file_manager_store files(theirs.staging);
    const auto report = tpc::recover(theirs["other"], {&store, &mail, &files});
    CHECK(report.committed == 3);
    CHECK(report.rolled_back == 0);
    CHECK(has_row(*warehouse.database, foreign_run));
    CHECK(warehouse.prepared().empty());
}

}  // namespace

TEST_CASE("crash: two main databases share a warehouse; SIGKILL after db2's main commit; recovery from either side "
          "commits db2's branch and never touches another deployment's (SQLite mains, library pass)") {
    check_two_main_databases(main_kind::sqlite, false);
}

TEST_CASE("crash: two main databases on PostgreSQL share a warehouse; recovery from either side (library pass)") {
    check_two_main_databases(main_kind::postgresql, false);
}

#ifdef ATRIUM_ADMIN
TEST_CASE("crash: two main databases share a warehouse; atrium-admin --recover configured for either one "
          "commits db2's branch and leaves another deployment's alone") {
    check_two_main_databases(main_kind::sqlite, true);
}

TEST_CASE("crash: two main databases on PostgreSQL share a warehouse; atrium-admin --recover configured for either "
          "one finds the other among the server's databases") {
    check_two_main_databases(main_kind::postgresql, true);
}
#endif
