#include "modules/res/preferences.hpp"

#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "modules/res/password.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace atrium::modules::res {

namespace {

using nlohmann::json;

// Preferences a user may change on themselves (set_preferences).
const std::vector<std::string> k_preferences = {"name", "language", "email", "signature", "password"};
// What get_preferences sends for the password: never the hash, and ignored when sent back.
const std::string k_password_placeholder(10, 'x');

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

// The first id `m` finds for `domain`, or null (the model may not exist yet).
json first(const pool& p, const char* model_name, const json& domain, const char* needed_field) {
    const model* m = p.find(model_name);
    if (!m || !m->find_field(needed_field)) return nullptr;
    const auto found = m->search(domain, {.limit = 1});
    return found.empty() ? json(nullptr) : json(found[0]);
}

// The root menu's act_window as the client decodes it from `pyson_menu`
// (trytond: PYSONEncoder().encode(user.menu.get_action_value())). The client
// needs res_model, pyson_domain and views; views[i][0] is the ir.ui.view the
// menu tree is shown with, and an empty list makes it ask for the default
// tree view (fields_view_get(false, "tree")).
json menu_action(const pool& p) {
    const json action_id = first(p, "ir.action.act_window", json::array({leaf("res_model", "=", "ir.ui.menu")}), "res_model");
    const json view_id = first(p, "ir.ui.view",
                               json::array({leaf("model", "=", "ir.ui.menu"), leaf("type", "=", "tree")}), "type");
    json views = json::array();
    if (!view_id.is_null()) views.push_back(json::array({view_id, "tree"}));
    // The pyson_* members are PYSON strings inside the encoded action.
    return {{"context_domain", nullptr},
            {"res_model", "ir.ui.menu"},
            {"id", action_id},
            {"limit", nullptr},
            {"context_model", nullptr},
            {"views", std::move(views)},
            {"domains", json::array()},
            {"pyson_domain", json::array({leaf("parent", "=", nullptr)}).dump()},
            {"pyson_search_value", "[]"},
            {"pyson_order", json::array({json::array({"sequence", "ASC NULLS LAST"}), json::array({"id", nullptr})}).dump()},
            {"pyson_context", "{}"},
            {"name", "Menu"},
            {"type", "ir.action.act_window"},
            {"records", "selected"},
            {"icon.", nullptr}};
}

}  // namespace

json get_preferences(const model& users, bool context_only) {
    auto guard = without_check_access();
    const auto uid = current().user();
    const record r = users.browse(uid, {"name", "login", "language", "email", "signature", "groups"});
    const json language = r.is_null("language") ? json("en") : r.values()["language"];
    json out = {{"language", language}, {"language_direction", "ltr"}, {"groups", r.values()["groups"]}};
    if (context_only) return out;
    const json action = menu_action(users.owner());
    const std::string name = r.is_null("name") ? std::string() : r.get<std::string>("name");
    out.update(json{{"id", uid},
                    {"login", r.values()["login"]},
                    {"name", name},
                    {"email", r.values()["email"]},
                    {"signature", r.values()["signature"]},
                    {"password", k_password_placeholder},
                    {"actions", json::array()},  // actions run at login: none
                    {"applications", json::array()},
                    {"avatar", nullptr},
                    {"avatar_url", nullptr},
                    {"avatar_badge_url", nullptr},
                    {"menu", action["id"]},
                    {"menu.rec_name", "Menu"},  // flat here, unlike read's "menu." (trytond's shape)
                    {"pyson_menu", action.dump()},
                    {"status_bar", name},
                    {"warnings", json::array()}});
    return out;
}

void set_preferences(const model& users, const json& values_in) {
    if (!values_in.is_object()) throw user_error("Preferences must be a mapping.");
    json values = values_in;
    if (values.contains("password") && values["password"] == k_password_placeholder) values.erase("password");
    for (auto it = values.begin(); it != values.end(); ++it)
        if (std::find(k_preferences.begin(), k_preferences.end(), it.key()) == k_preferences.end())
            throw user_error("The preference \"" + it.key() + "\" cannot be changed.");
    if (current().user() == root_user) throw user_error("Root has no preferences.");
    if (values.empty()) return;
    auto guard = without_check_access();
    users.write({current().user()}, values);
}

model_def device_model() {
    model_def device("res.user.device", "User Device");
    device.add(fields::char_field("login", "Login")).add(fields::char_field("cookie", "Cookie"));
    // Only the client's renew call is needed: nothing is stored (login attempts
    // are counted per login and network, not per device).
    custom_method renew{"renew", {}, [](const model&, const rpc_call&) { return json(random_key()); },
                        "renew(cookie) -> a new device cookie."};
    device.add(std::move(renew));
    return device;
}

}  // namespace atrium::modules::res
