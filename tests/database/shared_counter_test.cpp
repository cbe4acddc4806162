// The change counters shared by the processes of one database
// (database/shared_counter.hpp, db::database::change_counter).
#include "database/database.hpp"
#include "database/shared_counter.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>

using namespace atrium::db;

TEST_CASE("shared counter: two mappings of one file see each other's increments, also across a fork") {
    atrium::test::temp_dir dir;
    const auto file = dir.path() / "counter";
    auto a = shared_counter::open_file(file);
    CHECK(a->load() == 0);
    a->increment();
    auto b = shared_counter::open_file(file);
    CHECK(b->load() == 1);
    b->increment();
    CHECK(a->load() == 2);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        for (int i = 0; i < 1000; ++i) b->increment();
        ::_exit(0);
    }
    for (int i = 0; i < 1000; ++i) a->increment();
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(a->load() == 2002);  // no increment lost between the processes
    auto local = shared_counter::in_process();
    local->increment();
    CHECK(local->load() == 1);
}

TEST_CASE("sqlite: a database's change counter is a file next to it, one per topic, removed by drop") {
    atrium::test::temp_dir dir;
    auto be = open_backend("sqlite://" + dir.path().string());
    be->create("counted");
    auto db = be->open("counted");
    auto sessions = db->change_counter("sessions");
    REQUIRE(sessions);
    CHECK(db->change_counter("sessions") == sessions);  // cached
    sessions->increment();
    CHECK(std::filesystem::exists(dir.path() / "counted.sqlite-counter-sessions"));
    // Another process opening the same database sees the same value.
    auto other = open_backend("sqlite://" + dir.path().string())->open("counted")->change_counter("sessions");
    CHECK(other->load() == 1);
    CHECK(db->change_counter("other")->load() == 0);
    CHECK_THROWS_AS(db->change_counter("../x"), std::invalid_argument);
    // A file that cannot be made is an error the callers turn into "no cache".
    std::filesystem::create_directory(dir.path() / "counted.sqlite-counter-blocked");
    CHECK_THROWS_AS(db->change_counter("blocked"), std::system_error);
    CHECK_THROWS_AS(db->change_counter(""), std::invalid_argument);
    other.reset();
    sessions.reset();
    db.reset();
    be->drop("counted");
    CHECK_FALSE(std::filesystem::exists(dir.path() / "counted.sqlite-counter-sessions"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "counted.sqlite-counter-other"));

    auto memory = open_backend("sqlite://:memory:");
    memory->create("m");
    auto counter = memory->open("m")->change_counter("sessions");
    REQUIRE(counter);
    counter->increment();
    CHECK(memory->open("m")->change_counter("sessions")->load() == 1);
}
