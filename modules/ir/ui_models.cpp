// The ui models of ir and their RPC methods: ir.ui.icon.list_icons,
// ir.action.keyword.get_keyword, ir.action.get_action_value. Menus are in
// ui_menu.cpp, loading module data in ui_load.cpp.

#include "modules/ir/ui.hpp"


#include "modules/access.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "modules/view_arch.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

namespace atrium::modules::ir {

using nlohmann::json;

namespace {

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

const json& argument(const rpc_call& c, std::size_t at) {
    static const json null;
    return at < c.args.size() ? c.args[at] : null;
}

bool readable(const pool& p, const std::string& model_name) {
    auto& txn = current();
    return !txn.access_checked() || access_allowed(p, txn.user(), model_name, "read");
}

// The model's default order as the client sends it back: [[field, dir], …, ["id", null]].
json model_order(const model& m) {
    json out = json::array();
    bool has_id = false;
    for (const auto& [f, dir] : m.definition().order) {
        out.push_back(json::array({f, f == "id" ? json(nullptr) : json(dir)}));
        has_id = has_id || f == "id";
    }
    if (!has_id) out.push_back(json::array({"id", nullptr}));
    return out;
}

json parsed(const json& text, const char* fallback) {
    if (!text.is_string() || text.get<std::string>().empty()) return json::parse(fallback);
    return json::parse(text.get<std::string>());
}

// get_keyword(keyword, [model, id]): the actions bound to that record.
json get_keyword(const model& self, const rpc_call& c) {
    const pool& p = self.owner();
    const json& keyword = argument(c, 0);
    const json& target = argument(c, 1);
    if (!keyword.is_string() || !target.is_array() || target.size() != 2 || !target[0].is_string() ||
        !target[1].is_number_integer())
        throw user_error("get_keyword() takes a keyword and a [model, id] pair.");
    const std::string model_name = target[0].get<std::string>();
    const std::int64_t id = target[1].get<std::int64_t>();
    // A menu's action is named after the menu: "<parent path> / <menu>", or
    // just the menu when the parent has the action's name ("Sales / Sales").
    std::string menu_name, parent_path;
    if (model_name == "ir.ui.menu") {
        if (visible_menus(p, {id}).empty()) return json::array();
        auto guard = without_check_access();
        const model& menus = p.get("ir.ui.menu");
        const auto menu = menus.read({id}, {"name", "parent"});
        if (menu.empty()) return json::array();
        menu_name = menu[0]["name"].get<std::string>();
        if (menu[0]["parent"].is_number_integer())
            parent_path = menus.read({menu[0]["parent"].get<std::int64_t>()}, {"complete_name"})
                              .at(0)["complete_name"]
                              .get<std::string>();
    }
    json values = json::array();
    {
        auto guard = without_check_access();
        const model& keywords = p.get("ir.action.keyword");
        const model& windows = p.get("ir.action.act_window");
        const auto rows = keywords.search_read(
            json::array({leaf("keyword", "=", keyword),
                         leaf("model", "in",
                              json::array({model_name + "," + std::to_string(id), model_name + ",-1"}))}),
            {}, {"action"});
        for (const auto& row : rows)
            for (const auto aw : windows.search(json::array({leaf("action", "=", row["action"])})))
                values.push_back(action_value(p, aw));
    }
    json out = json::array();
    for (auto& value : values) {
        if (!readable(p, value["res_model"].get<std::string>())) continue;  // as the menu hides it
        if (!menu_name.empty()) {
            const bool same = parent_path.empty() || parent_path == value["name"].get<std::string>();
            value["name"] = same ? menu_name : parent_path + " / " + menu_name;
        }
        value["keyword"] = keyword;
        out.push_back(std::move(value));
    }
    return out;
}

}  // namespace

json action_value(const pool& p, std::int64_t act_window_id) {
    auto guard = without_check_access();
    const model& windows = p.get("ir.action.act_window");
    const auto found =
        windows.read({act_window_id}, {"name", "res_model", "domain", "context", "order", "limit", "action"});
    const json& w = found.at(0);
    const std::string res_model = w["res_model"].get<std::string>();
    json views = json::array();
    const model& window_views = p.get("ir.action.act_window.view");
    search_options o;
    o.order = json::array({json::array({"sequence", "ASC"}), json::array({"id", "ASC"})});
    for (const auto& wv :
         window_views.search_read(json::array({leaf("act_window", "=", act_window_id)}), o, {"view"})) {
        const auto view = p.get("ir.ui.view").read({wv["view"].get<std::int64_t>()}, {"type"});
        views.push_back(json::array({wv["view"], view.at(0)["type"]}));
    }
    const model* target = p.find(res_model);
    const json order = w["order"].is_string() ? parsed(w["order"], "null")
                                              : (target ? model_order(*target) : json::array());
    return {{"id", act_window_id},
            {"action", w["action"]},
            {"name", w["name"]},
            {"type", "ir.action.act_window"},
            {"records", "selected"},
            {"res_model", res_model},
            {"res_id", nullptr},
            {"views", views},
            {"domains", json::array()},
            {"limit", w["limit"]},
            {"context_model", nullptr},
            {"context_domain", nullptr},
            {"pyson_domain", pyson_text(parsed(w["domain"], "[]"))},
            {"pyson_context", pyson_text(parsed(w["context"], "{}"))},
            {"pyson_order", pyson_text(order)},
            {"pyson_search_value", "[]"},
            {"icon.", nullptr}};
}

void add_ui_models(module_def& ir) {
    model_def data("ir.model.data", "Model Data");
    data.add(fields::char_field("module", "Module").set_required())
        .add(fields::char_field("fs_id", "Identifier on File System").set_required())
        .add(fields::char_field("model", "Model").set_required())
        .add(fields::integer("db_id", "Resource ID").set_required());
    ir.models.push_back(std::move(data));

    model_def icon("ir.ui.icon", "Icon");
    icon.add(fields::char_field("name", "Name").set_required())
        .add(fields::text("icon", "Icon"))
        .add(fields::integer("sequence", "Sequence").set_default(10));
    icon.order = {{"sequence", "ASC"}, {"id", "ASC"}};
    icon.add(custom_method{"list_icons", {},
                           [](const model& self, const rpc_call&) {
                               auto guard = without_check_access();
                               search_options o;
                               o.order = json::array({json::array({"id", "ASC"})});
                               json out = json::array();
                               for (const auto& r : self.search_read(json::array(), o, {"name"}))
                                   out.push_back(json::array({r["id"], r["name"]}));
                               return out;
                           },
                           "list_icons() -> [[id, name], …] sorted by id."});
    ir.models.push_back(std::move(icon));

    model_def view("ir.ui.view", "View");
    view.add(fields::char_field("model", "Model").set_required())
        .add(fields::selection("type", {{"tree", "Tree"}, {"form", "Form"}}, "View Type").set_required())
        .add(fields::text("arch", "View Architecture").set_required())
        .add(fields::integer("priority", "Priority").set_default(16))
        .add(fields::char_field("field_childs", "Children Field"))
        .add(fields::char_field("name", "Name"));
    view.order = {{"priority", "ASC"}, {"id", "ASC"}};
    ir.models.push_back(std::move(view));

    model_def action("ir.action", "Action");
    action.add(fields::char_field("name", "Name").set_required())
        .add(fields::char_field("type", "Type").set_required().set_default("ir.action.act_window"))
        .add(fields::boolean("active", "Active").set_default(true));
    action.add(custom_method{"get_action_value", {},
                             [](const model& self, const rpc_call& c) {
                                 const json& id = argument(c, 0);
                                 if (!id.is_number_integer()) throw user_error("get_action_value() takes an action id.");
                                 auto guard = without_check_access();
                                 const auto aw = self.owner().get("ir.action.act_window").search(
                                     json::array({leaf("action", "=", id)}));
                                 if (aw.empty()) throw user_error("There is no window action " + id.dump() + ".");
                                 return action_value(self.owner(), aw[0]);
                             },
                             "get_action_value(action_id) -> the action as the client runs it."});
    ir.models.push_back(std::move(action));

    model_def window("ir.action.act_window", "Action Window");
    window.add(fields::many2one("action", "ir.action", "Action").set_required().set_cascade())
        .add(fields::char_field("name", "Name"))
        .add(fields::char_field("res_model", "Model").set_required())
        .add(fields::char_field("domain", "Domain Value").set_default("[]"))
        .add(fields::char_field("context", "Context Value").set_default("{}"))
        .add(fields::char_field("order", "Order Value"))
        .add(fields::integer("limit", "Limit"))
        .add(fields::one2many("act_window_views", "ir.action.act_window.view", "act_window", "Views"));
    ir.models.push_back(std::move(window));

    model_def window_view("ir.action.act_window.view", "Action Window View");
    window_view.add(fields::integer("sequence", "Sequence").set_default(10))
        .add(fields::many2one("view", "ir.ui.view", "View").set_required().set_cascade())
        .add(fields::many2one("act_window", "ir.action.act_window", "Action").set_required().set_cascade());
    window_view.order = {{"sequence", "ASC"}, {"id", "ASC"}};
    ir.models.push_back(std::move(window_view));

    model_def keyword("ir.action.keyword", "Action Keyword");
    keyword
        .add(fields::selection("keyword",
                               {{"tree_open", "Open tree"}, {"form_print", "Print form"},
                                {"form_action", "Action form"}, {"form_relate", "Form relate"},
                                {"graph_open", "Open Graph"}},
                               "Keyword")
                 .set_required())
        .add(fields::char_field("model", "Model").set_help("\"model,id\"; id -1: every record of the model"))
        .add(fields::many2one("action", "ir.action", "Action").set_required().set_cascade());
    keyword.add(custom_method{"get_keyword", {}, get_keyword,
                              "get_keyword(keyword, [model, id]) -> the actions bound to that record."});
    ir.models.push_back(std::move(keyword));

    model_def menu("ir.ui.menu", "UI menu");
    menu.add(fields::char_field("name", "Menu").set_required())
        .add(fields::many2one("parent", "ir.ui.menu", "Parent Menu").set_cascade())
        .add(fields::one2many("childs", "ir.ui.menu", "parent", "Children"))
        .add(fields::integer("sequence", "Sequence").set_default(10))
        .add(fields::char_field("icon", "Icon"))
        .add(fields::char_field("action", "Action").set_help("A reference: \"ir.action.act_window,<id>\""))
        .add(fields::char_field("complete_name", "Complete Name").set_readonly())
        .add(fields::boolean("favorite", "Favorite").set_readonly())
        .add(fields::boolean("active", "Active").set_default(true))
        .add(fields::many2many("groups", "ir_ui_menu_group_rel", "menu", "group", "res.group", "Groups"));
    menu.order = {{"sequence", "ASC"}, {"id", "ASC"}};
    add_menu_methods(menu);
    ir.models.push_back(std::move(menu));

    // The client's menu: the tree of ir.ui.menu the user's preferences open (pyson_menu).
    ir.ui.view("menu_view_tree", "ir.ui.menu", "tree",
               R"(<tree keyword_open="1"><field name="name" icon="icon" expand="1"/>)"
               R"(<field name="favorite" tree_invisible="1"/></tree>)")
        .field_childs = "childs";
    ir.ui.action("act_menu_tree", "Menu", "ir.ui.menu", {"menu_view_tree"}).domain = R"([["parent", "=", null]])";
}

void activate_ui(const pool& p) {
    const model& icons = p.get("ir.ui.icon");
    int sequence = 10;
    for (const auto& name : icon_names()) {
        const auto found = icons.search(json::array({leaf("name", "=", name)}));
        if (found.empty())
            icons.create(json::array({{{"name", name}, {"sequence", sequence}, {"icon", icon_svg(name)}}}));
        else
            icons.write(found, {{"icon", icon_svg(name)}});  // an update brings the current drawing
        sequence += 10;
    }
    // Everybody reads the interface; only root (module data) changes it.
    const model& access = p.get("ir.model.access");
    for (const char* m : {"ir.ui.icon", "ir.ui.view", "ir.action", "ir.action.act_window",
                          "ir.action.act_window.view", "ir.action.keyword", "ir.ui.menu"}) {
        if (access.search(json::array({leaf("model", "=", m)})).empty())
            access.create(json::array({{{"model", m},
                                        {"perm_read", true},
                                        {"description", std::string("everybody reads ") + m}}}));
    }
    if (access.search(json::array({leaf("model", "=", "ir.model.data")})).empty())
        access.create(json::array({{{"model", "ir.model.data"}, {"description", "only root uses ir.model.data"}}}));
}

}  // namespace atrium::modules::ir
