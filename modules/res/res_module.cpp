#include "modules/dialect.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "modules/res/auth.hpp"
#include "modules/res/password.hpp"
#include "modules/res/res_views.hpp"
#include "modules/res/users.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include "modules/res/preferences.hpp"  // get_preferences, set_preferences, res.user.device

namespace atrium::modules::res {

namespace {

using nlohmann::json;

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

}  // namespace

void register_module(module_registry& registry) {
    module_def res;
    res.name = "res";
    res.depends = {"ir"};
    res.description = "Users and groups";

    model_def group("res.group", "Group");
    group.add(fields::char_field("name", "Name").set_required().set_unique())
        .add(fields::many2one("parent", "res.group", "Parent").set_help("The group inherits the accesses of its parent"))
        .add(fields::many2many("users", "res_user_group", "group", "user", "res.user", "Users"));
    group.invalidates_access = true;
    res.models.push_back(std::move(group));

    model_def user("res.user", "User");
    user.add(fields::char_field("name", "Name").set_required())
        .add(fields::char_field("login", "Login").set_required().set_unique())
        .add(fields::char_field("password_hash", "Password Hash").set_readonly().set_secret())
        .add(fields::boolean("active", "Active").set_default(true))
        .add(fields::char_field("language", "Language").set_default("en"))
        .add(fields::char_field("email", "Email"))
        .add(fields::text("signature", "Signature"))
        .add(fields::many2many("groups", "res_user_group", "user", "group", "res.group", "Groups"))
        .add(fields::one2many("warnings", "res.user.warning", "user", "Warnings"));
    user.order = {{"name", "ASC"}};
    user.after_write = [](const model& self, const ids& records, const json& values) {
        // A deactivated user, or one with a new password, is logged out everywhere.
        if (!values.contains("active") && !values.contains("password_hash")) return;
        auto inactive_too = inactive_records();
        for (const auto& r : self.browse(records, {"login"})) clear_sessions(r.id(), r.get<std::string>("login"));
    };
    user.invalidates_access = true;  // group membership
    user.prepare_values = [](json& values) {
        // "password" is never stored: it becomes its argon2id hash.
        if (!values.contains("password")) return;
        const auto pw = values["password"];
        values.erase("password");
        if (pw.is_string() && !pw.get<std::string>().empty()) values["password_hash"] = hash_password(pw.get<std::string>());
        else if (pw.is_null() || pw == false) values["password_hash"] = nullptr;
        else throw user_error("The password must be a text.");
        // password_hash stays read-only over RPC: only this derived value may set it.
    };
    custom_method get_prefs{"get_preferences", {}, [](const model& self, const rpc_call& c) {
                                const bool context_only = !c.args.empty() && c.args[0].is_boolean() && c.args[0].get<bool>();
                                return get_preferences(self, context_only);
                            },
                            "get_preferences(context_only) -> the current user's preferences."};
    user.add(std::move(get_prefs));
    rpc_definition rw;
    rw.readonly = false;
    rw.fresh_session = true;
    custom_method set_prefs{"set_preferences", rw, [](const model& self, const rpc_call& c) {
                                set_preferences(self, c.args.empty() ? json::object() : c.args[0]);
                                return json(nullptr);
                            },
                            "set_preferences(values): changes the current user's preferences."};
    user.add(std::move(set_prefs));
    res.models.push_back(std::move(user));

    model_def warning("res.user.warning", "User Warning");
    warning.add(fields::many2one("user", "res.user", "User").set_required().set_cascade())
        .add(fields::char_field("name", "Name").set_required())
        .add(fields::boolean("always", "Always").set_default(false));
    res.models.push_back(std::move(warning));

    model_def attempt("res.user.login.attempt", "Login Attempt");
    attempt.add(fields::char_field("login", "Login"))
        .add(fields::char_field("device_cookie", "Device Cookie"))
        .add(fields::char_field("ip_address", "IP Address"))
        .add(fields::char_field("ip_network", "IP Network"));
    res.models.push_back(std::move(attempt));
    res.models.push_back(device_model());

    res.on_activate = [](const pool& p) {
        const model& users = p.get("res.user");
        auto& conn = current().connection();
        // Root, user 0: owns what the system does; inactive, so it cannot log in.
        if (conn.execute("SELECT 1 FROM \"res_user\" WHERE \"id\" = 0").empty()) {
            conn.execute("INSERT INTO \"res_user\" (\"id\", \"name\", \"login\", \"active\", \"create_uid\") "
                         "VALUES (0, 'Root', 'root', ?, 0)",
                         {sql::boolean_param(conn, false)});
        }
        (void)users;
        const model& access = p.get("ir.model.access");
        const model& groups = p.get("res.group");
        auto admin_group = groups.search(json::array({leaf("name", "=", "Administration")}));
        if (admin_group.empty()) admin_group = groups.create(json::array({{{"name", "Administration"}}}));
        auto grant = [&](const char* m, json group, bool read, bool write, const char* why) {
            if (!access.search(json::array({leaf("model", "=", m), leaf("group", "=", group)})).empty()) return;
            access.create(json::array({{{"model", m},
                                        {"group", group},
                                        {"perm_read", read},
                                        {"perm_write", write},
                                        {"perm_create", write},
                                        {"perm_delete", write},
                                        {"description", why}}}));
        };
        grant("res.user.login.attempt", nullptr, false, false, "only root sees login attempts");
        // Everybody reads users and groups; the Administration group manages
        // them and the access rights.
        for (const char* m : {"res.user", "res.group"}) {
            grant(m, nullptr, true, false, "users read users and groups");
            grant(m, admin_group[0], true, true, "administrators manage users and groups");
        }
        for (const char* m : {"ir.model.access", "ir.module", "ir.sequence.strict"})
            grant(m, admin_group[0], true, true, "administrators manage the configuration");
    };
    res.ui = views();
    registry.add(std::move(res));
}

}  // namespace atrium::modules::res
