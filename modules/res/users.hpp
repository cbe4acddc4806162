#pragma once
// The res module: groups, users (user 0 is root and cannot log in; init
// creates "admin", user 1), user warnings, login attempts, preferences.

#include <cstdint>
#include <string>

namespace atrium::modules {
class module_registry;
class pool;
}  // namespace atrium::modules

namespace atrium::modules::res {

void register_module(module_registry& registry);

/// The admin user (login "admin", id 1 in a fresh database) in group
/// Administration; sets its password when `password` is not empty.
void ensure_admin(const pool& p, const std::string& password);

/// Tryton's Warning.check: true when the current user must be warned about
/// `name` (no res.user.warning row); otherwise the row is consumed (deleted
/// unless `always`) and noted in the transaction's check_warnings. Root is never warned.
bool check_warning(const std::string& name);

/// Throws user_warning(name, message) unless the user already confirmed it.
void warn(const std::string& name, const std::string& message, const std::string& description = {});

}  // namespace atrium::modules::res
