#pragma once
// atrium-admin's database commands: --init, --update, --list-modules.

#include "server/config.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace atrium::server {

struct module_command {
    std::string database;              ///< -d, else database.name
    std::vector<std::string> modules;  ///< -u
    std::optional<std::string> admin_password;  ///< ATRIUM_ADMIN_PASSWORD or --password-file
};

/// Each returns the exit status (0 ok, 1 failure) and writes its errors to `err`.
int run_init(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err);
int run_update(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err);
int run_list_modules(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err);

}  // namespace atrium::server
