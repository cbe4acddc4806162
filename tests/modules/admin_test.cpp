// atrium-admin --init/--update/--list-modules against the backend under test.
#include "modules/registry.hpp"
#include "modules/res/auth.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

using namespace atrium;
using namespace atrium::test;

namespace {

struct run_result {
    int status;
    std::string output;
};

// Runs atrium-admin with the shipped configuration on the scratch backend.
run_result admin(const scratch_backend& server, const std::string& args, const std::string& env = {}) {
    const std::string cmd = "ATRIUM_DATABASE__URI='" + server.uri() + "' " + env + " '" ATRIUM_ADMIN "' -c '" +
                            ATRIUM_SOURCE_DIR "/etc/atrium.conf' " + args + " 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), pipe)) out += buf.data();
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("atrium-admin: --init creates and activates, --update and --list-modules report") {
    scratch_backend server;
    const auto name = server.unique_name("admin");
    // No password: nothing is created.
    auto r = admin(server, "-d " + name + " --init -u sale", "ATRIUM_ADMIN_PASSWORD=");
    CHECK(r.status == 1);
    CHECK(r.output.find("ATRIUM_ADMIN_PASSWORD") != std::string::npos);
    CHECK_FALSE(server->exists(name));
    r = admin(server, "-d " + name + " --init -u nope", "ATRIUM_ADMIN_PASSWORD=pw");
    CHECK(r.status == 1);
    CHECK(r.output.find("unknown module 'nope'") != std::string::npos);
    CHECK_FALSE(server->exists(name));
    r = admin(server, "-d " + name + " --update");
    CHECK(r.status == 1);
    CHECK(r.output.find("does not exist") != std::string::npos);

    temp_dir dir;
    const auto pwfile = dir.string() + "/pw";
    std::ofstream(pwfile) << "s3cret\n";
    r = admin(server, "-d " + name + " --init -u sale --password-file " + pwfile);
    CHECK_MESSAGE(r.status == 0, r.output);
    CHECK(r.output.find("active modules: ir res sale") != std::string::npos);
    {
        auto database = server->open(name);
        CHECK(modules::is_atrium_database(*database));
        auto scope = begin(database, root_user);
        CHECK(modules::res::login("admin", {{"password", "s3cret"}}, "127.0.0.1", {}) == 1);
    }
    r = admin(server, "-d " + name + " --update");
    CHECK(r.status == 0);
    r = admin(server, "-d " + name + " --list-modules");
    CHECK(r.status == 0);
    CHECK(r.output.find("sale\tactivated") != std::string::npos);
    CHECK(admin(server, "--init --update").status == 2);
}
