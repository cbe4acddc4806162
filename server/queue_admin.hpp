#pragma once
/// @file
/// @brief `atrium-admin queue list [STATE] | queue retry ID | queue drop ID`:
/// the operator's view of ir.queue (modules/ir/queue.hpp) in the main database.

#include "server/config.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace atrium::server {

/// `words` after "queue". Exit status: 0 done, 1 no such task / failure, 2 usage.
int run_queue_command(const config& cfg, const std::string& database, const std::vector<std::string>& words,
                      std::ostream& out, std::ostream& err);

}  // namespace atrium::server
