// Crash safety of two-phase commit (issue 6, SPEC §5.3): `atrium-admin --recover`
// and atriumd's start-up and periodic recovery passes finish a leftover crash;
// the configuration keys they read (shared set-up: crash_setup.hpp).

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

// --- the commands -----------------------------------------------------------

#ifdef ATRIUM_ADMIN
TEST_CASE("crash: atrium-admin --recover finishes a leftover crash from the configuration") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto helper = s.run_helper("after-main-commit");
    REQUIRE(helper.signaled);
    const auto config = write_config(s);

    const auto first = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "admin-1.log");
    INFO("atrium-admin output:\n" << first.output);
    CHECK(first.exit_code == 0);
    CHECK(first.output.find("atrium-admin: recovery: 4 participant(s), committed 4, rolled back 0, failed 0") !=
          std::string::npos);
    s.check_final(true);

    const auto second = run_process({ATRIUM_ADMIN, "-c", config.string(), "--recover"}, s.dir / "admin-2.log");
    INFO("second atrium-admin output:\n" << second.output);
    CHECK(second.exit_code == 0);
    CHECK(second.output.find("committed 0, rolled back 0, failed 0") != std::string::npos);
    s.check_final(true);
}

TEST_CASE("crash: atrium-admin --recover fails clearly without its main database, and on a bad participant") {
    temp_dir dir;
    {
        std::ofstream out(dir / "missing.conf");
        out << "[database]\nuri = sqlite://" << (dir / "none").string() << "\nname = nope\n";
    }
    const auto missing = run_process({ATRIUM_ADMIN, "-c", (dir / "missing.conf").string(), "--recover"}, dir / "a.log");
    CHECK(missing.exit_code == 1);
    CHECK(missing.output.find("does not exist") != std::string::npos);
    {
        std::ofstream out(dir / "bad.conf");
        out << "[tpc]\nparticipants = postgresql://u:secret@host/\n";
    }
    const auto bad = run_process({ATRIUM_ADMIN, "-c", (dir / "bad.conf").string(), "--recover"}, dir / "b.log");
    INFO(bad.output);
    CHECK(bad.exit_code == 2);
    CHECK(bad.output.find("participants") != std::string::npos);
    CHECK(bad.output.find("secret") == std::string::npos);
    const auto usage = run_process({ATRIUM_ADMIN}, dir / "c.log");
    CHECK(usage.exit_code == 2);
}
#endif

#ifdef ATRIUM_ATRIUMD
TEST_CASE("crash: atriumd runs a recovery pass at start-up and reports it") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto helper = s.run_helper("after-all-votes");
    REQUIRE(helper.signaled);
    const auto config = write_config(s);
    const auto started = run_process({ATRIUM_ATRIUMD, "-c", config.string(), "--check"}, s.dir / "atriumd.log");
    INFO("atriumd output:\n" << started.output);
    CHECK(started.exit_code == 0);
    CHECK(started.output.find("atriumd: recovery: 4 participant(s), committed 0, rolled back 4, failed 0") !=
          std::string::npos);
    CHECK(started.output.find("atriumd: ready") != std::string::npos);
    s.check_final(false);
}

TEST_CASE("crash: a running atriumd's periodic recovery pass finishes a crash that happened after it started") {
    crash_setup s(main_kind::sqlite, atrium::test::pg_dsn());
    const auto config = write_config(s);
    {
        std::ofstream more(config, std::ios::app);
        more << "[web]\nlisten = 127.0.0.1:0\n";
    }
    ::setenv("ATRIUM_TPC__RECOVERY_INTERVAL", "1", 1);
    const pid_t server = spawn_process({ATRIUM_ATRIUMD, "-c", config.string()}, s.dir / "atriumd-periodic.log");
    ::unsetenv("ATRIUM_TPC__RECOVERY_INTERVAL");
    // The server is up (its start-up pass found nothing) before the crash.
    for (int i = 0; i < 300 && read_text(s.dir / "atriumd-periodic.log").find("atriumd: ready") == std::string::npos; ++i)
        ::usleep(20000);
    REQUIRE(read_text(s.dir / "atriumd-periodic.log").find("atriumd: ready") != std::string::npos);

    const auto helper = s.run_helper("after-all-votes");
    REQUIRE(helper.signaled);
    REQUIRE(s.prepared(s.p1_name).size() == 1);
    // Within a few intervals (branches younger than one interval are left to their coordinator).
    for (int i = 0; i < 150 && (!s.prepared(s.p1_name).empty() || !s.prepared(s.p2_name).empty()); ++i)
        ::usleep(100000);
    ::kill(server, SIGTERM);
    process_result stopped;
    wait_process(server, stopped, s.dir / "atriumd-periodic.log");
    INFO("atriumd output:\n" << stopped.output);
    CHECK(stopped.exit_code == 0);
    // PostgreSQL branches wait one interval (min_age); mail and files go at the first pass.
    CHECK(stopped.output.find("periodic recovery: 4 participant(s), committed 0, rolled back") != std::string::npos);
    s.check_final(false);
}
#endif

// --- the configuration keys -------------------------------------------------

TEST_CASE("crash: tpc.participants, mail.maildir and files.staging in the configuration") {
    using atrium::server::config_error;
    using atrium::server::parse_config;
    const auto defaults = parse_config("");
    CHECK(defaults.tpc.participants.empty());
    CHECK(defaults.mail.maildir == "./var/mail");
    CHECK(defaults.files.staging == "./var/staging");

    const auto cfg = parse_config(
        "[tpc]\nparticipants = postgresql://a:pw@h1:5432/one ,postgresql://b@h2/two,\n"
        "[mail]\nmaildir =\n[files]\nstaging = /srv/staging\n");
    CHECK(cfg.tpc.participants == std::vector<std::string>{"postgresql://a:pw@h1:5432/one", "postgresql://b@h2/two"});
    CHECK(cfg.mail.maildir.empty());
    CHECK(cfg.files.staging == "/srv/staging");

    CHECK_THROWS_AS(parse_config("[tpc]\nparticipants = postgresql://h/one, postgresql://h/one\n"), config_error);
    CHECK_THROWS_AS(parse_config("[tpc]\nparticipants = host=h dbname=x\n"), config_error);
    CHECK_THROWS_AS(parse_config("[tpc]\nnope = 1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[mail]\nsmtp = x\n"), config_error);
    try {
        parse_config("[tpc]\nparticipants = postgresql://u:secret@h/\n");
        FAIL("a DSN without a database name is refused");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()).find("secret") == std::string::npos);
    }

    atrium::server::config env_cfg;
    atrium::server::apply_environment(env_cfg, {{"ATRIUM_TPC__PARTICIPANTS", "postgresql://x@h/db"}});
    CHECK(env_cfg.tpc.participants == std::vector<std::string>{"postgresql://x@h/db"});
}
