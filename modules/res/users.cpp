#include "modules/res/users.hpp"

#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

namespace atrium::modules::res {

using nlohmann::json;

void ensure_admin(const pool& p, const std::string& password) {
    auto guard = without_check_access();
    const model& users = p.get("res.user");
    const model& groups = p.get("res.group");
    const auto group = groups.search(json::array({json::array({"name", "=", "Administration"})}));
    auto found = users.search(json::array({json::array({"login", "=", "admin"})}));
    if (found.empty()) {
        json values = {{"name", "Administrator"}, {"login", "admin"}};
        if (!group.empty()) values["groups"] = json::array({json::array({"add", group})});
        if (!password.empty()) values["password"] = password;
        users.create(json::array({values}));
    } else if (!password.empty()) {
        users.write(found, {{"password", password}});
    }
}

bool check_warning(const std::string& name) {
    auto& txn = current();
    if (txn.user() == root_user) return false;
    const auto p = current_pool();
    const model& warnings = p->get("res.user.warning");
    auto guard = without_check_access();
    const auto found = warnings.search(
        json::array({json::array({"user", "=", txn.user()}), json::array({"name", "=", name})}));
    if (found.empty()) return true;
    ids consumed;
    for (const auto& r : warnings.browse(found, {"always"}))
        if (!r.get<bool>("always")) consumed.push_back(r.id());
    warnings.remove(consumed);
    txn.check_warnings[name].insert(found.begin(), found.end());
    return false;
}

void warn(const std::string& name, const std::string& message, const std::string& description) {
    if (check_warning(name)) throw user_warning(name, message, description);
}

}  // namespace atrium::modules::res
