#pragma once
// Model access rights (SPEC §7.4) from ir.model.access, cached per
// (user, model) in the pool and invalidated when access rows, groups or
// memberships change (and again when that transaction ends).

#include <cstdint>
#include <string>
#include <string_view>

namespace atrium::modules {

class pool;

/// mode ∈ read, write, create, delete. Root (user 0) is always allowed.
bool access_allowed(const pool& p, std::int64_t user, const std::string& model, std::string_view mode);
void invalidate_access(const pool& p);

}  // namespace atrium::modules
