#pragma once
// `web.processes = N` (N > 1): atriumd becomes a supervisor that opens N
// listening sockets on web.listen (SO_REUSEPORT), forks N children before any
// thread exists, each serving on its socket with its own threads and io_contexts, restarts a child that
// dies (with a back-off) and, on SIGTERM/SIGINT, has every child drain and
// exits 0 once all of them did. Child 0 starts first and alone (database
// creation, initialisation and the start-up recovery pass run once), the
// others after it is ready.

#include "server/process_role.hpp"

#include <optional>
#include <string>

namespace atrium::server {

/// In the supervisor: runs it and returns its exit code. In a child: fills
/// this_process() and returns std::nullopt (the child goes on as an atriumd).
/// Call before any thread is started. Throws std::system_error if the
/// address cannot be bound.
std::optional<int> supervise(int processes, const std::string& host, unsigned short port);

}  // namespace atrium::server
