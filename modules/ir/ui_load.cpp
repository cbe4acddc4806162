// Loading a module's ui_def (views, window actions, menus) at activation.
// Each record is found again by (module, id, model) in ir.model.data, so an
// update rewrites it in place; every arch is checked against the models
// first, and a bad declaration stops the activation with its name.

#include "modules/ir/ui.hpp"

#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "modules/view_arch.hpp"

namespace atrium::modules::ir {

using nlohmann::json;

namespace {

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

class loader {
public:
    loader(const pool& p, std::string module) : p_(p), module_(std::move(module)) {}

    // "id" is this module's, "other.id" another module's.
    std::int64_t find(const std::string& ref, const std::string& model) const {
        const auto dot = ref.find('.');
        if (dot == std::string::npos) return data_id(p_, module_, ref, model);
        return data_id(p_, ref.substr(0, dot), ref.substr(dot + 1), model);
    }

    std::int64_t upsert(const std::string& model_name, const std::string& fs_id, const json& values) const {
        const model& data = p_.get("ir.model.data");
        const model& target = p_.get(model_name);
        const auto rows = data.search_read(
            json::array({leaf("module", "=", module_), leaf("fs_id", "=", fs_id), leaf("model", "=", model_name)}), {},
            {"db_id"});
        if (!rows.empty()) {
            const auto id = rows[0]["db_id"].get<std::int64_t>();
            if (!target.search(json::array({leaf("id", "=", id)})).empty()) {
                target.write({id}, values);
                return id;
            }
        }
        const auto id = target.create(json::array({values})).at(0);
        if (rows.empty())
            data.create(json::array(
                {{{"module", module_}, {"fs_id", fs_id}, {"model", model_name}, {"db_id", id}}}));
        else
            data.write({rows[0]["id"].get<std::int64_t>()}, {{"db_id", id}});
        return id;
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw user_error("The module \"" + module_ + "\" cannot be activated: " + what);
    }

    void load_view(const view_def& v) const {
        try {
            check_arch(p_, module_ + "." + v.id, v.model, v.type, v.arch,
                       [&](const std::string& ref) { return find(ref, "ir.ui.view") != 0; });
        } catch (const user_error& e) {
            fail(e.message());
        }
        upsert("ir.ui.view", v.id,
               {{"model", v.model},
                {"type", v.type},
                {"arch", v.arch},
                {"priority", v.priority},
                {"field_childs", v.field_childs.empty() ? json(nullptr) : json(v.field_childs)},
                {"name", module_ + "." + v.id}});
    }

    void load_action(const act_window_def& a) const {
        const std::string what = "the action \"" + module_ + "." + a.id + "\" ";
        if (!p_.find(a.res_model)) fail(what + "opens the model \"" + a.res_model + "\", which does not exist.");
        for (const auto* text : {&a.domain, &a.context})
            if (!json::accept(*text)) fail(what + "has a domain or context that is not JSON: " + *text);
        std::vector<std::pair<std::int64_t, std::string>> views;
        for (const auto& ref : a.views) {
            const auto id = find(ref, "ir.ui.view");
            if (!id) fail(what + "shows the view \"" + ref + "\", which does not exist (declare it first).");
            const auto view = p_.get("ir.ui.view").read({id}, {"model"});
            if (view.at(0)["model"] != a.res_model)
                fail(what + "shows the view \"" + ref + "\", which is not a view of \"" + a.res_model + "\".");
            views.emplace_back(id, ref);
        }
        const auto action = upsert("ir.action", a.id, {{"name", a.name}, {"type", "ir.action.act_window"}});
        const auto window = upsert("ir.action.act_window", a.id,
                                   {{"action", action},
                                    {"name", a.name},
                                    {"res_model", a.res_model},
                                    {"domain", a.domain},
                                    {"context", a.context},
                                    {"limit", a.limit ? json(*a.limit) : json(nullptr)}});
        const model& window_views = p_.get("ir.action.act_window.view");
        window_views.remove(window_views.search(json::array({leaf("act_window", "=", window)})));
        int sequence = 10;
        for (const auto& [id, _] : views) {
            window_views.create(json::array({{{"act_window", window}, {"view", id}, {"sequence", sequence}}}));
            sequence += 10;
        }
    }

    void load_menu(const menu_def& m) const {
        const std::string what = "the menu \"" + module_ + "." + m.id + "\" ";
        const model& menus = p_.get("ir.ui.menu");
        json parent = nullptr;
        std::string complete_name = m.name;
        if (!m.parent.empty()) {
            const auto id = find(m.parent, "ir.ui.menu");
            if (!id) fail(what + "has the parent \"" + m.parent + "\", which does not exist (declare it first).");
            parent = id;
            complete_name = menus.read({id}, {"complete_name"}).at(0)["complete_name"].get<std::string>() + " / " +
                            m.name;
        }
        json action = nullptr;
        std::int64_t action_id = 0;
        if (!m.action.empty()) {
            const auto window = find(m.action, "ir.action.act_window");
            if (!window) fail(what + "opens the action \"" + m.action + "\", which does not exist (declare it first).");
            action = "ir.action.act_window," + std::to_string(window);
            action_id = p_.get("ir.action.act_window").read({window}, {"action"}).at(0)["action"].get<std::int64_t>();
        }
        json groups = json::array();
        for (const auto& name : m.groups) {
            const auto found = p_.get("res.group").search(json::array({leaf("name", "=", name)}));
            if (found.empty()) fail(what + "is for the group \"" + name + "\", which does not exist.");
            groups.push_back(found[0]);
        }
        const auto id = upsert("ir.ui.menu", m.id,
                               {{"name", m.name},
                                {"parent", parent},
                                {"sequence", m.sequence},
                                {"icon", m.icon},
                                {"action", action},
                                {"complete_name", complete_name},
                                {"favorite", action.is_null() ? json(nullptr) : json(false)},
                                {"groups", json::array({json::array({"set", groups})})}});
        if (action_id)
            upsert("ir.action.keyword", m.id,
                   {{"keyword", "tree_open"}, {"model", "ir.ui.menu," + std::to_string(id)}, {"action", action_id}});
    }

private:
    const pool& p_;
    std::string module_;
};

}  // namespace

std::int64_t data_id(const pool& p, const std::string& module, const std::string& fs_id,
                     const std::string& model_name) {
    const model* data = p.find("ir.model.data");
    if (!data) return 0;
    const auto rows = data->search_read(
        json::array({leaf("module", "=", module), leaf("fs_id", "=", fs_id), leaf("model", "=", model_name)}),
        {}, {"db_id"});
    return rows.empty() ? 0 : rows[0]["db_id"].get<std::int64_t>();
}

void load_ui(const pool& p, const std::string& module, const ui_def& ui) {
    const loader load(p, module);
    for (const auto& v : ui.views) load.load_view(v);
    for (const auto& a : ui.actions) load.load_action(a);
    for (const auto& m : ui.menus) load.load_menu(m);
}

}  // namespace atrium::modules::ir
