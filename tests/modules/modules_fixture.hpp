#pragma once
// A database of the backend under test with ir, res, sale and the test
// module "test_types" (every field type) activated; admin password "admin-secret".

#include "modules/registry.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/transaction.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace atrium::test {

/// Registers "test_types" in builtin_modules() once (tests add modules like any author).
void register_test_modules();

struct modules_database {
    test_database base;
    explicit modules_database(const std::vector<std::string>& modules = {"sale", "test_types"});
    std::shared_ptr<db::database> db() const { return base.db; }
};

inline nlohmann::json dec(const char* text) { return {{"__class__", "Decimal"}, {"decimal", text}}; }
inline nlohmann::json leaf(const char* f, const char* op, nlohmann::json v) {
    return nlohmann::json::array({f, op, std::move(v)});
}

}  // namespace atrium::test
