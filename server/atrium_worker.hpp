#pragma once
/// @file
/// @brief atrium-worker's whole program: a process that runs only the task
/// queue's workers (server/queue_workers.hpp) on atriumd's configuration, with
/// no listener; woken by NOTIFY (PostgreSQL) or the shared counter (SQLite);
/// SIGTERM/SIGINT let the task in hand finish (at most web.drain_timeout) and
/// exit 0. Shared by the atrium-worker binary and the tests' build of it.

namespace atrium::server {

/// Runs atrium-worker with `argc`/`argv` (`atrium-worker --help`); returns the exit status.
int run_atrium_worker(int argc, char** argv);

}  // namespace atrium::server
