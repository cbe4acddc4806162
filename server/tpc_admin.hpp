#pragma once
/// @file
/// @brief Operator tooling for transactions in doubt (issue 17 point 7), as
/// `atrium-admin tpc …`, for every participant of the configuration and every
/// database the server serves (server/recovery_command.hpp):
///
///     atrium-admin -c atrium.conf tpc list
///     atrium-admin -c atrium.conf tpc commit GID
///     atrium-admin -c atrium.conf tpc rollback GID [--force]
///
/// `list` prints one line per branch in doubt: gid, participant, age in
/// seconds ("-" if unknown), the recorded decision ("commit", "abort", "none"
/// while nothing is decided, "foreign" when the gid's decision database is not
/// served here) and that database's name.
///
/// `commit` / `rollback` finish every branch of GID in the configured
/// participants, after recording the outcome in the gid's decision database
/// when nothing is recorded yet (so its other branches, and a coordinator that
/// is merely slow, follow it). Refused (exit 1) unless `force` when the
/// recorded decision says otherwise, when `commit` finds no commit record
/// (presumed abort: the main transaction did not commit), or when the
/// decision database is not served here; with `force` the record is overruled
/// to the operator's outcome and a warning is logged.

#include "server/config.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace atrium::server {

struct tpc_command {
    std::string action;  ///< "list", "commit" or "rollback"
    std::string gid;     ///< commit / rollback
    bool force = false;
};

/// Runs `cmd`; returns the exit status (0 done, 1 refused or failed, 2 bad usage).
int run_tpc_command(const config& cfg, const tpc_command& cmd, std::ostream& out, std::ostream& err);

}  // namespace atrium::server
