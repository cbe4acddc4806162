#pragma once
/// @file
/// @brief The periodic two-phase-commit recovery pass of atriumd (SPEC §5.3):
/// a fiber that runs recovery_command's pass every `interval` until stopped.
/// Branches younger than `min_age` are left to their (possibly slow, still
/// running) coordinator; the decision-key race keeps older ones safe too.

#include "server/config.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}
namespace atrium::db {
class backend;
class database;
}

namespace atrium::server {

struct periodic_recovery_options {
    std::chrono::seconds interval{60};
    std::chrono::seconds min_age{60};
    /// Called after each pass with its one-line summary (logs, tests).
    std::function<void(const std::string&)> on_pass;
};

/// Spawns the recovery fiber on `io`. Setting `*stop` ends it within a second.
/// Each pass covers every database the server serves (served_databases over `backend`).
void start_periodic_recovery(boost::asio::io_context& io, std::shared_ptr<db::backend> backend,
                             std::shared_ptr<db::database> main, const config& cfg,
                             periodic_recovery_options options, std::shared_ptr<std::atomic<bool>> stop);

}  // namespace atrium::server
