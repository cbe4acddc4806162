// Files as a transaction participant (participants/file_manager.hpp): a write
// queued in a transaction (on the main database of the backend under test)
// replaces the target atomically only when the transaction commits; the
// participant store finishes or removes what a crash left staged.

#include "tests/support/log_dm.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_database.hpp"
#include "participants/file_manager.hpp"
#include "transaction/recovery.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>

using namespace atrium;
using atrium::test::log_dm;
using atrium::test::temp_dir;
using atrium::test::test_database;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    if (!fs::exists(dir)) return names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string slurp(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void spit(const fs::path& file, const std::string& text) { std::ofstream(file, std::ios::binary) << text; }

struct fixture {
    temp_dir dir;
    fs::path staging = dir / "staging";
    fs::path out = dir / "out";
    fs::path target = out / "order.txt";
    file_manager files{staging, out};
    file_manager_store store{staging};

    fixture() {
        fs::create_directories(out);
        spit(target, "old content\n");
    }
};

/// Queues into a bare coordinator and votes: the state a crash after the vote leaves.
std::shared_ptr<file_manager_dm> stage(fixture& x, tpc::coordinator& txn) {
    x.files.write(txn, "order.txt", "new content\n");
    x.files.write(txn, "second.txt", "second\n");
    auto dm = x.files.data_manager(txn);
    dm->tpc_begin(txn);
    dm->commit(txn);
    dm->tpc_vote(txn);
    return dm;
}

std::string stage_and_drop(fixture& x) {
    tpc::coordinator txn(tpc::facade::zope);
    return stage(x, txn)->gid();
}

}  // namespace

TEST_CASE("files: a committed write replaces the target; before the commit it keeps its old content") {
    test_database f;
    fixture x;
    std::string gid;
    {
        auto scope = begin(f.db, 1);
        scope->connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("order")});
        gid = x.files.write(*scope, "order.txt", "new content\n")->gid();
        x.files.write(*scope, "fresh.txt", "fresh\n");
        CHECK(slurp(x.target) == "old content\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
    }
    CHECK(f.committed_notes() == std::vector<std::string>{"order"});
    CHECK(slurp(x.target) == "new content\n");
    CHECK(slurp(x.out / "fresh.txt") == "fresh\n");
    CHECK(names_in(x.out) == std::vector<std::string>{"fresh.txt", "order.txt"});  // no temporaries
    CHECK(names_in(x.staging).empty());                                          // no manifest
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::commit);
}

TEST_CASE("files: a rolled-back transaction leaves the target untouched and no temporary file") {
    test_database f;
    fixture x;
    SUBCASE("exception") {
        try {
            auto scope = begin(f.db, 1);
            x.files.write(*scope, "order.txt", "new content\n");
            x.files.remove(*scope, "order.txt");
            throw std::runtime_error("business error");
        } catch (const std::runtime_error&) {
        }
    }
    SUBCASE("another participant fails at vote, before or after the files staged") {
        std::vector<std::string> log;
        std::string name;
        SUBCASE("first") { name = "a-first"; }
        SUBCASE("last") { name = "z-last"; }
        auto scope = begin(f.db, 1);
        x.files.write(*scope, "order.txt", "new content\n");
        scope->join(std::make_shared<log_dm>(name, log, "tpc_vote"));
        CHECK_THROWS_WITH_AS(scope.close(true), (name + " fails at tpc_vote").c_str(), std::runtime_error);
    }
    SUBCASE("the target directory does not exist: the vote fails") {
        auto scope = begin(f.db, 1);
        x.files.write(*scope, "order.txt", "new content\n");
        x.files.write(*scope, "missing/x.txt", "x");
        CHECK_THROWS_AS(scope.close(true), std::system_error);
        CHECK_FALSE(fs::exists(x.dir / "missing"));
    }
    CHECK(slurp(x.target) == "old content\n");
    CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
    CHECK(names_in(x.staging).empty());
}

TEST_CASE("files: removal, last operation per target wins, the mode of the replaced file is kept") {
    test_database f;
    fixture x;
    ::chmod(x.target.c_str(), 0640);
    spit(x.out / "gone.txt", "bye");
    {
        auto scope = begin(f.db, 1);
        x.files.write(*scope, "order.txt", "first\n");
        x.files.write(*scope, "./order.txt", "second\n");  // same target
        x.files.remove(*scope, "gone.txt");
        x.files.remove(*scope, "never-existed.txt");
        CHECK(x.files.data_manager(*scope)->operations().size() == 3);
    }
    CHECK(slurp(x.target) == "second\n");
    struct stat st {};
    REQUIRE(::stat(x.target.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);
    CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
}

TEST_CASE("files: one data manager per (transaction, staging directory)") {
    test_database f;
    fixture x;
    file_manager again(x.dir.path() / "staging" / "", x.out);
    file_manager other(x.dir / "staging2", x.out);
    auto scope = begin(f.db, 1);
    auto dm = x.files.data_manager(*scope);
    CHECK(x.files.data_manager(*scope) == dm);
    CHECK(again.write(*scope, "order.txt", "a") == dm);
    CHECK(other.data_manager(*scope) != dm);
    CHECK(dm->participant_id() == "files:" + x.staging.string());
    scope.rollback();
}

TEST_CASE("files: the vote stages next to the target and writes a manifest") {
    fixture x;
    tpc::coordinator txn(tpc::facade::zope);
    auto dm = stage(x, txn);
    const auto temp = x.out / ("order.txt." + dm->gid() + ".tmp");
    CHECK(dm->gid().starts_with("atrium-"));
    CHECK(slurp(temp) == "new content\n");
    CHECK(slurp(x.target) == "old content\n");
    CHECK(names_in(x.staging) == std::vector<std::string>{dm->gid() + ".json"});
    const auto manifest = nlohmann::json::parse(slurp(dm->manifest_path()));
    CHECK(manifest["gid"] == dm->gid());
    CHECK(manifest["operations"][0]["target"] == x.target.string());
    CHECK(manifest["operations"][0]["temp"] == temp.string());

    SUBCASE("finish renames into place and deletes the manifest; repeated terminal calls change nothing") {
        dm->tpc_finish(txn);
        dm->tpc_finish(txn);
        dm->abort(txn);
        dm->tpc_abort(txn);
        CHECK(slurp(x.target) == "new content\n");
        CHECK(slurp(x.out / "second.txt") == "second\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt", "second.txt"});
        CHECK(names_in(x.staging).empty());
    }
    SUBCASE("abort removes temporaries and manifest; repeated") {
        dm->tpc_abort(txn);
        dm->abort(txn);
        dm->tpc_abort(txn);
        CHECK(slurp(x.target) == "old content\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
        CHECK(names_in(x.staging).empty());
        CHECK_THROWS_AS(dm->queue_write(x.target, "late"), std::logic_error);
    }
}

TEST_CASE("files: terminal calls before the vote") {
    fixture x;
    tpc::coordinator txn(tpc::facade::zope);
    auto dm = x.files.write(txn, "order.txt", "new");
    dm->tpc_abort(txn);
    dm->abort(txn);
    dm->tpc_abort(txn);
    CHECK(dm->operations().empty());
    CHECK(slurp(x.target) == "old content\n");
    CHECK_FALSE(fs::exists(x.staging));
}

TEST_CASE("files: staged but not finished is in doubt; the store finishes or removes it") {
    fixture x;
    CHECK(x.store.participant_id() == "files:" + x.staging.string());
    CHECK(x.store.in_doubt().empty());  // no staging directory yet
    const auto gid = stage_and_drop(x);
    CHECK(x.store.in_doubt() == std::vector<std::string>{gid});

    SUBCASE("commit") {
        x.store.commit(gid);
        CHECK(slurp(x.target) == "new content\n");
        CHECK(slurp(x.out / "second.txt") == "second\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt", "second.txt"});
        CHECK(x.store.in_doubt().empty());
        x.store.commit(gid);
        x.store.rollback(gid);
        CHECK(slurp(x.target) == "new content\n");
    }
    SUBCASE("commit after a crash in the middle of the finish (one rename done)") {
        fs::rename(x.out / ("order.txt." + gid + ".tmp"), x.target);
        x.store.commit(gid);
        CHECK(slurp(x.target) == "new content\n");
        CHECK(slurp(x.out / "second.txt") == "second\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt", "second.txt"});
        CHECK(x.store.in_doubt().empty());
    }
    SUBCASE("rollback") {
        x.store.rollback(gid);
        CHECK(slurp(x.target) == "old content\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
        CHECK(x.store.in_doubt().empty());
        x.store.rollback(gid);
        x.store.commit(gid);
        CHECK(slurp(x.target) == "old content\n");
    }
    SUBCASE("rollback of a manifest cut short by a crash") {
        spit(x.staging / (gid + ".json"), "{\"gid\": \"" + gid + "\", \"operations\": [");
        x.store.rollback(gid);
        CHECK(x.store.in_doubt().empty());
    }
}

TEST_CASE("files: recovery finishes staged files from the main database's decision") {
    test_database f;
    fixture x;
    SUBCASE("decision recorded (crash after the main commit) => renamed into place") {
        const auto gid = stage_and_drop(x);
        {
            auto scope = begin(f.db, 1);
            tpc::decisions::record_commit(scope->connection(), gid, x.store.participant_id());
        }
        const auto report = tpc::recover(*f.db, {&x.store});
        CHECK(report.committed == 1);
        CHECK(report.failed == 0);
        CHECK(slurp(x.target) == "new content\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt", "second.txt"});
    }
    SUBCASE("no decision (crash after the vote) => temporaries removed") {
        stage_and_drop(x);
        const auto report = tpc::recover(*f.db, {&x.store});
        CHECK(report.rolled_back == 1);
        CHECK(slurp(x.target) == "old content\n");
        CHECK(names_in(x.out) == std::vector<std::string>{"order.txt"});
    }
    CHECK(x.store.in_doubt().empty());
    CHECK(names_in(x.staging).empty());
}

TEST_CASE("files: a name leaving the root is refused, joins nothing and writes nothing") {
    test_database f;
    fixture x;
    fs::create_directories(x.dir / "outside");
    fs::create_directory_symlink(x.dir / "outside", x.out / "escape");          // a directory leading out
    fs::create_symlink(x.dir / "outside" / "victim.txt", x.out / "victim.txt");  // a file leading out
    const std::vector<std::string> bad = {"../x.txt",
                                          "a/../../x.txt",
                                          (x.dir / "outside" / "abs.txt").string(),
                                          "/etc/atrium-never.txt",
                                          "",
                                          ".",
                                          "sub/",
                                          "bad\nname.txt",
                                          "escape/x.txt",
                                          "victim.txt"};
    for (const auto& name : bad) {
        CAPTURE(name);
        tpc::coordinator txn(tpc::facade::zope);
        CHECK_THROWS_AS(x.files.write(txn, name, "evil\n"), path_error);
        CHECK_THROWS_AS(x.files.remove(txn, name), path_error);
        CHECK(txn.resources().empty());
        CHECK(names_in(x.dir / "outside").empty());
        CHECK_FALSE(fs::exists("/etc/atrium-never.txt"));
    }
    CHECK(names_in(x.staging).empty());
    // A symbolic link that stays inside the root is fine.
    fs::create_directories(x.out / "real");
    fs::create_directory_symlink(x.out / "real", x.out / "alias");
    {
        auto scope = begin(f.db, 1);
        x.files.write(*scope, "alias/ok.txt", "ok\n");
    }
    CHECK(slurp(x.out / "real" / "ok.txt") == "ok\n");
}

TEST_CASE("files: a symbolic link made after the write was queued is refused at the vote; all rolls back") {
    test_database f;
    fixture x;
    fs::create_directories(x.out / "sub");
    fs::create_directories(x.dir / "outside");
    {
        auto scope = begin(f.db, 1);
        scope->connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("order")});
        x.files.write(*scope, "order.txt", "new content\n");
        x.files.write(*scope, "sub/x.txt", "evil\n");
        fs::remove(x.out / "sub");
        fs::create_directory_symlink(x.dir / "outside", x.out / "sub");
        CHECK_THROWS_AS(scope.close(true), path_error);
    }
    CHECK(f.committed_notes().empty());
    CHECK(names_in(x.dir / "outside").empty());
    CHECK(slurp(x.target) == "old content\n");
    CHECK(names_in(x.out) == std::vector<std::string>{"order.txt", "sub"});
    CHECK(names_in(x.staging).empty());
}

TEST_CASE("files: path_within") {
    temp_dir dir;
    CHECK(path_within(dir.path(), "a.txt") == durable::normal_absolute(dir.path() / "a.txt"));
    CHECK(path_within(dir.path(), "./b/./a.txt") == durable::normal_absolute(dir.path() / "b" / "a.txt"));
    CHECK_THROWS_AS(path_within(dir.path(), "b/../a.txt"), path_error);  // any "..", even one that stays inside
    CHECK_THROWS_WITH_AS(path_within(dir.path(), "../a.txt"), "the file name \"../a.txt\" contains \"..\"", path_error);
    CHECK_THROWS_WITH_AS(path_within(dir.path(), "/etc/x"),
                         "the file name \"/etc/x\" is absolute; only names inside the directory are allowed",
                         path_error);
    CHECK_THROWS_WITH_AS(path_within(dir.path(), std::string("a\x01.txt")),
                         "the file name \"a?.txt\" contains a control character", path_error);
    file_manager_store store(dir / "staging");
    CHECK_THROWS_AS(store.commit("../../etc/passwd"), std::invalid_argument);
    CHECK_THROWS_AS(store.rollback("../x"), std::invalid_argument);
}
