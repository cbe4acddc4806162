// Crash safety of two-phase commit (issue 17 point 7): the operator's
// `atrium-admin tpc list / commit / rollback` (shared set-up: crash_setup.hpp).

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

// --- operator tooling: atrium-admin tpc list / commit / rollback (issue 17 point 7)

#ifdef ATRIUM_ADMIN
namespace {

/// The lines of `tpc list` naming `gid` (tab-separated fields).
std::vector<std::vector<std::string>> listed(const std::string& output, const std::string& gid) {
    std::vector<std::vector<std::string>> lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(gid + "\t", 0) != 0) continue;
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string cell; std::getline(cells, cell, '\t');) fields.push_back(cell);
        lines.push_back(fields);
    }
    return lines;
}

}  // namespace

TEST_CASE("crash: atrium-admin tpc list shows the branches in doubt; commit/rollback follow the decision, "
          "--force overrules it") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    int runs = 0;
    auto admin = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {ATRIUM_ADMIN, "-c", config.string()});
        return run_process(args, s.dir / ("tpc-" + std::to_string(++runs) + ".log"));
    };

    SUBCASE("no decision recorded (killed after all votes): commit refused, rollback records abort") {
        REQUIRE(s.run_helper("after-all-votes").signaled);
        const auto gid1 = s.prepared(s.p1_name).at(0);
        const auto gid2 = s.prepared(s.p2_name).at(0);
        const auto list = admin({"tpc", "list"});
        INFO("tpc list:\n" << list.output);
        CHECK(list.exit_code == 0);
        CHECK(list.output.rfind("gid\tparticipant\tage_s\tdecision\tdatabase\n", 0) == 0);
        const auto line = listed(list.output, gid1);
        REQUIRE(line.size() == 1);
        REQUIRE(line[0].size() == 5);
        CHECK(line[0][1] == s.dsn1);  // the participant (no password in the test DSN)
        CHECK(line[0][2] != "-");
        CHECK(std::stoll(line[0][2]) >= 0);
        CHECK(std::stoll(line[0][2]) < 600);
        CHECK(line[0][3] == "none");
        CHECK(line[0][4] == s.main_name);
        CHECK(listed(list.output, gid2).size() == 1);

        const auto refused = admin({"tpc", "commit", gid1});
        INFO("tpc commit:\n" << refused.output);
        CHECK(refused.exit_code == 1);
        CHECK(refused.output.find("presumed abort") != std::string::npos);
        CHECK(s.prepared(s.p1_name).size() == 1);
        CHECK_FALSE(tpc::decisions::lookup(*s.main, gid1).has_value());

        const auto rolled = admin({"tpc", "rollback", gid1});
        INFO("tpc rollback:\n" << rolled.output);
        CHECK(rolled.exit_code == 0);
        CHECK(rolled.output.find("rolled back " + gid1) != std::string::npos);
        CHECK(s.prepared(s.p1_name).empty());
        CHECK(tpc::decisions::lookup(*s.main, gid1) == tpc::outcome::abort);
        CHECK(s.prepared(s.p2_name).size() == 1);  // the other branch is not touched

        const auto forced = admin({"tpc", "commit", gid2, "--force"});
        INFO("tpc commit --force:\n" << forced.output);
        CHECK(forced.exit_code == 0);
        CHECK(forced.output.find("WARNING") != std::string::npos);
        CHECK(forced.output.find("forced") != std::string::npos);
        CHECK(s.p2_row());
        CHECK(tpc::decisions::lookup(*s.main, gid2) == tpc::outcome::commit);
        CHECK(admin({"tpc", "rollback", gid2}).exit_code == 1);  // no longer in doubt anywhere
    }
    SUBCASE("commit recorded (killed after the main commit): rollback refused unless --force") {
        REQUIRE(s.run_helper("after-main-commit").signaled);
        const auto gid1 = s.prepared(s.p1_name).at(0);
        const auto gid2 = s.prepared(s.p2_name).at(0);
        const auto list = admin({"tpc", "list"});
        INFO("tpc list:\n" << list.output);
        CHECK(list.exit_code == 0);
        REQUIRE(listed(list.output, gid1).size() == 1);
        CHECK(listed(list.output, gid1)[0][3] == "commit");
        // Mail and files are listed too (their own gids).
        CHECK(list.output.find("\tmail:") != std::string::npos);
        CHECK(list.output.find("\tfiles:") != std::string::npos);

        const auto refused = admin({"tpc", "rollback", gid1});
        INFO("tpc rollback:\n" << refused.output);
        CHECK(refused.exit_code == 1);
        CHECK(refused.output.find("is commit") != std::string::npos);
        CHECK(s.prepared(s.p1_name).size() == 1);

        const auto committed = admin({"tpc", "commit", gid2});
        INFO("tpc commit:\n" << committed.output);
        CHECK(committed.exit_code == 0);
        CHECK(s.p2_row());
        CHECK(s.prepared(s.p2_name).empty());

        const auto forced = admin({"tpc", "rollback", gid1, "--force"});
        INFO("tpc rollback --force:\n" << forced.output);
        CHECK(forced.exit_code == 0);
        CHECK(forced.output.find("WARNING") != std::string::npos);
        CHECK(forced.output.find("against the recorded decision commit") != std::string::npos);
        CHECK(s.prepared(s.p1_name).empty());
        CHECK_FALSE(s.p1_row());
        CHECK(tpc::decisions::lookup(*s.main, gid1) == tpc::outcome::abort);  // overruled, for its other branches
        // Recovery finishes the rest (mail and files) from the recorded commit.
        CHECK(s.recover().committed == 2);
    }
    SUBCASE("bad usage") {
        CHECK(admin({"tpc", "commit", "not-a-gid"}).exit_code == 2);
        CHECK(admin({"tpc", "frobnicate"}).exit_code == 2);
        CHECK(admin({"tpc"}).exit_code == 2);
        CHECK(admin({"tpc", "list", "--force"}).exit_code == 2);
        CHECK(admin({"tcp", "list"}).exit_code == 2);
        const auto missing = admin({"tpc", "rollback", tpc::new_gid(std::string(32, 'a'))});
        CHECK(missing.exit_code == 1);
        CHECK(missing.output.find("not in doubt") != std::string::npos);
    }
}

TEST_CASE("crash: atrium-admin tpc refuses to decide another deployment's branch without --force") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    // A branch prepared by a coordinator whose main database is not served here.
    const std::string foreign = tpc::new_gid("00000000000040008000000000000000");
    {
        auto conn = s.p1->acquire();
        conn->execute("BEGIN");
        conn->execute("INSERT INTO crash_row (run) VALUES ('foreign')");
        conn->execute("PREPARE TRANSACTION '" + foreign + "'");
        conn.discard();
    }
    const auto list = run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "list"}, s.dir / "l.log");
    INFO(list.output);
    REQUIRE(listed(list.output, foreign).size() == 1);
    CHECK(listed(list.output, foreign)[0][3] == "foreign");
    CHECK(listed(list.output, foreign)[0][4] == "-");
    const auto refused =
        run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "rollback", foreign}, s.dir / "r.log");
    CHECK(refused.exit_code == 1);
    CHECK(refused.output.find("not served here") != std::string::npos);
    CHECK(s.prepared(s.p1_name) == std::vector<std::string>{foreign});
    // --recover leaves it alone as well.
    const auto recover = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "rec.log");
    CHECK(recover.exit_code == 0);
    CHECK(s.prepared(s.p1_name) == std::vector<std::string>{foreign});
    const auto forced =
        run_process({ATRIUM_ADMIN, "-c", config.string(), "tpc", "rollback", foreign, "--force"}, s.dir / "f.log");
    INFO(forced.output);
    CHECK(forced.exit_code == 0);
    CHECK(forced.output.find("forced") != std::string::npos);
    CHECK(s.prepared(s.p1_name).empty());
}
#endif
