#pragma once
// What this process is under `web.processes` (server/supervisor.hpp): one of
// N children forked by the supervisor, or the only process. A child inherits
// its listening socket, and only child 0 runs the once-per-deployment duties
// (the start-up recovery pass, the periodic recovery).

namespace atrium::server {

struct process_role {
    int index = 0;           ///< which child (0 … count-1)
    int count = 1;           ///< web.processes; 1: no supervisor
    bool first_start = true;  ///< false for a child restarted after it died
    int listen_fd = -1;      ///< this child's listening socket (SO_REUSEPORT, kept by the supervisor)
    int ready_fd = -1;       ///< written once serving (the supervisor waits for it), then closed

    bool supervised() const noexcept { return count > 1; }
    /// The start-up recovery pass: once per start of the deployment.
    bool runs_startup_recovery() const noexcept { return index == 0 && first_start; }
    /// The periodic recovery pass: in one process only.
    bool runs_periodic_recovery() const noexcept { return index == 0; }
};

/// This process's role (set by the supervisor in a child before anything else runs).
process_role& this_process() noexcept;
/// "X-Atrium-Process: <pid>" is added to replies when supervised (nullptr: not).
const char* process_header_value() noexcept;

}  // namespace atrium::server
