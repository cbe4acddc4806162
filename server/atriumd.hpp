#pragma once
/// @file
/// @brief atriumd's whole program (command line, start-up, serving until a
/// signal), shared by the atriumd binary and builds of it that add to it (the
/// tests' atriumd_test adds test-only methods).

#include "database/database.hpp"
#include "server/rpc_handler.hpp"

#include <functional>
#include <string>
#include <vector>
#include <memory>

namespace atrium::server {

/// What a build of atriumd adds to the server.
struct atriumd_extensions {
    /// Puts a handler in front of the dispatcher: it serves the calls it knows
    /// and passes the others to `next`. Empty: the dispatcher serves alone.
    /// `backend` is the server's database backend.
    std::function<std::unique_ptr<rpc_handler>(rpc_handler& next, std::shared_ptr<db::backend> backend)> wrap_handler;
    /// Modules activated, besides sale, when a new database is initialised.
    std::vector<std::string> init_modules;
};

/// Runs atriumd with `argc`/`argv` (`atriumd --help`); returns the exit status.
int run_atriumd(int argc, char** argv, const atriumd_extensions& extensions = {});

}  // namespace atrium::server
