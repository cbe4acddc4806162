// The ui layer of ir: arches checked at activation, module data loaded by
// stable ids, fields_view_get, get_keyword and menus filtered by access rights.
#include "modules/errors.hpp"
#include "modules/ir/ui.hpp"
#include "modules/registry.hpp"
#include "modules/view_arch.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

#include <mutex>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {

std::string refusal(const pool& p, const char* model_name, const char* type, const char* arch) {
    try {
        check_arch(p, "test.view", model_name, type, arch, [](const std::string& ref) { return ref == "sale.sale_order_tree"; });
    } catch (const user_error& e) {
        return e.message();
    }
    return "";
}

void register_bad_view_module() {
    static std::once_flag once;
    std::call_once(once, [] {
        module_def m;
        m.name = "test_bad_view";
        m.depends = {"sale"};
        m.ui.view("bad_form", "sale.order", "form", "<form><field name=\"customer\"/><field name=\"nope\"/></form>");
        builtin_modules().add(std::move(m));
    });
}

json call(const pool& p, const char* method, json args) {
    const auto* m = p.find_method(method);
    REQUIRE(m);
    return m->call({std::move(args), json::object()});
}

}  // namespace

TEST_CASE("ui: an arch naming an unknown field, model, button or view is refused with a clear message") {
    modules_database f({"sale"});
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    CHECK(refusal(*p, "sale.order", "form", "<form><label name=\"customer\"/><field name=\"customer\"/>"
                                           "<button name=\"confirm\"/></form>") == "");
    CHECK(refusal(*p, "sale.order", "form", "<form><field name=\"nope\"/></form>") ==
          "The view \"test.view\" names the field \"nope\" (<field>), which \"sale.order\" does not have.");
    CHECK(refusal(*p, "sale.order", "tree", "<tree><field name=\"state\" icon=\"nope\"/></tree>") ==
          "The view \"test.view\" names the field \"nope\" (icon), which \"sale.order\" does not have.");
    CHECK(refusal(*p, "sale.order", "form", "<form><label name=\"nope\"/></form>") ==
          "The view \"test.view\" names the field \"nope\" (<label>), which \"sale.order\" does not have.");
    CHECK(refusal(*p, "sale.nope", "form", "<form/>") ==
          "The view \"test.view\" is for the model \"sale.nope\", which does not exist.");
    CHECK(refusal(*p, "sale.order", "form", "<form><button name=\"cancel\"/></form>") ==
          "The view \"test.view\" has the button \"cancel\", which \"sale.order\" does not declare.");
    CHECK(refusal(*p, "sale.order", "form", "<form><field name=\"lines\" view_ids=\"sale.nope\"/></form>") ==
          "The view \"test.view\" shows the field \"lines\" with the view \"sale.nope\", which does not exist "
          "(declare it first).");
    CHECK(refusal(*p, "sale.order", "form", "<form><field name=\"lines\" view_ids=\"sale.sale_order_tree\"/></form>") == "");
    CHECK(refusal(*p, "sale.order", "tree", "<form/>") ==
          "The view \"test.view\" has the root <form>; a tree view needs <tree>.");
    CHECK(refusal(*p, "sale.order", "form", "<form><field name=\"customer\"></form>").starts_with(
        "The view \"test.view\" is not well-formed XML: "));
}

TEST_CASE("ui: activating a module whose arch names an unknown field fails, naming module, view and field") {
    register_test_modules();
    register_bad_view_module();
    test_database t;
    std::string message;
    try {
        init_database(t.db, {"test_bad_view"}, "admin-secret");
    } catch (const user_error& e) {
        message = e.message();
    }
    CHECK(message == "The module \"test_bad_view\" cannot be activated: The view \"test_bad_view.bad_form\" names "
                     "the field \"nope\" (<field>), which \"sale.order\" does not have.");
    CHECK_FALSE(is_atrium_database(*t.db));  // nothing of the activation stays
}

TEST_CASE("ui: module views, actions and menus are loaded once; an update replaces them") {
    modules_database f({"sale"});
    auto count = [&](const char* m) {
        auto scope = begin(f.db(), root_user);
        return current_pool()->get(m).search_count(json::array());
    };
    const auto views = count("ir.ui.view"), menus = count("ir.ui.menu"), keywords = count("ir.action.keyword");
    const auto window_views = count("ir.action.act_window.view");
    CHECK(menus == 5);  // Sales, Sales / Sales, Administration, Users, Groups
    update_database(f.db());
    CHECK(count("ir.ui.view") == views);
    CHECK(count("ir.ui.menu") == menus);
    CHECK(count("ir.action.keyword") == keywords);
    CHECK(count("ir.action.act_window.view") == window_views);
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const auto leaf = ir::data_id(*p, "sale", "menu_sale_order", "ir.ui.menu");
    CHECK(p->get("ir.ui.menu").read({leaf}, {"complete_name", "action"})[0]["complete_name"] == "Sales / Sales");
}

TEST_CASE("ui: fields_view_get serves the stored view, or the default one, rewritten for the client") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const auto form_id = ir::data_id(*p, "sale", "sale_order_form", "ir.ui.view");
    const auto line_tree = ir::data_id(*p, "sale", "sale_order_line_tree_editable", "ir.ui.view");
    const json form = call(*p, "model.sale.order.fields_view_get", json::array({form_id, "form"}));
    CHECK(form["view_id"] == form_id);
    CHECK(form["type"] == "form");
    const std::string arch = form["arch"];
    CHECK(arch.find("<field name=\"lines\" colspan=\"4\" view_ids=\"" + std::to_string(line_tree) +
                    "\" mode=\"tree,form\"/>") != std::string::npos);
    CHECK(arch.find("<button name=\"confirm\" string=\"Confirm\" icon=\"tryton-forward\" help=\"\" confirm=\"\" "
                    "states=\"{&quot;invisible&quot;: {&quot;__class__&quot;: &quot;Not&quot;, &quot;v&quot;: "
                    "{&quot;__class__&quot;: &quot;Equal&quot;, &quot;s1&quot;: {&quot;__class__&quot;: "
                    "&quot;Eval&quot;, &quot;v&quot;: &quot;state&quot;, &quot;d&quot;: &quot;&quot;}, "
                    "&quot;s2&quot;: &quot;draft&quot;}}, &quot;depends&quot;: [&quot;state&quot;]}\" "
                    "type=\"class\"/>") != std::string::npos);
    CHECK(form["fields"].contains("state"));
    CHECK(form["fields"]["lines"]["views"][std::to_string(line_tree)]["arch"].get<std::string>().starts_with(
        "<tree editable=\"1\">"));
    // No view of that type: the default, with view_id echoed as given.
    const json tree = call(*p, "model.test.types.fields_view_get", json::array({false, "tree"}));
    CHECK(tree["arch"] == "<tree><field name=\"name\"/></tree>");
    CHECK(tree["view_id"] == false);
    CHECK(tree["fields"].contains("name"));
    CHECK(tree["fields"].contains("active"));
    CHECK(call(*p, "model.test.types.view_toolbar_get", json::array()) ==
          json({{"print", json::array()}, {"action", json::array()}, {"relate", json::array()},
                {"exports", json::array()}, {"emails", json::array()}}));
    CHECK_THROWS_AS(call(*p, "model.test.types.fields_view_get", json::array({form_id, "form"})), user_error);
}

TEST_CASE("ui: get_keyword and the menus follow the user's groups and model access") {
    modules_database f({"sale"});
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const auto clerk = p->get("res.user").create(json::array({{{"name", "Clerk"}, {"login", "clerk"}}}))[0];
    const auto sales = ir::data_id(*p, "sale", "menu_sale", "ir.ui.menu");
    const auto sales_leaf = ir::data_id(*p, "sale", "menu_sale_order", "ir.ui.menu");
    const auto administration = ir::data_id(*p, "res", "menu_administration", "ir.ui.menu");
    const auto users = ir::data_id(*p, "res", "menu_user", "ir.ui.menu");
    const json roots_domain = json::array({json::array({leaf("parent", "=", nullptr)})});
    const json open_leaf = json::array({"tree_open", json::array({"ir.ui.menu", sales_leaf})});
    {
        auto as_admin = set_user(1);
        auto checked = checking_access();
        CHECK(call(*p, "model.ir.ui.menu.search", roots_domain) == json::array({sales, administration}));
        const json actions = call(*p, "model.ir.action.keyword.get_keyword", open_leaf);
        REQUIRE(actions.size() == 1);
        CHECK(actions[0]["res_model"] == "sale.order");
        CHECK(actions[0]["name"] == "Sales");
        CHECK(actions[0]["keyword"] == "tree_open");
        CHECK(actions[0]["pyson_domain"] == "[]");
        CHECK(actions[0]["views"].size() == 2);
        CHECK(call(*p, "model.ir.action.keyword.get_keyword",
                   json::array({"tree_open", json::array({"ir.ui.menu", sales})})) == json::array());
        const json user_menu = call(*p, "model.ir.ui.menu.read",
                                    json::array({json::array({users}), json::array({"rec_name", "parent.rec_name"})}));
        CHECK(user_menu[0]["rec_name"] == "Administration / Users");
        CHECK(user_menu[0]["parent."] == json({{"id", administration}, {"rec_name", "Administration"}}));
    }
    {
        auto as_clerk = set_user(clerk);
        auto checked = checking_access();
        // Administration is for its group only.
        CHECK(call(*p, "model.ir.ui.menu.search", roots_domain) == json::array({sales}));
        CHECK(call(*p, "model.ir.ui.menu.search_count", roots_domain) == 1);
        CHECK_THROWS_AS(call(*p, "model.ir.ui.menu.read", json::array({json::array({users}), json::array({"name"})})),
                        access_error);
        CHECK(call(*p, "model.ir.action.keyword.get_keyword", open_leaf).size() == 1);
    }
    // sale.order for the Administration group only: the clerk loses Sales (its folder too).
    const auto admin_group = p->get("res.group").search(json::array({leaf("name", "=", "Administration")}));
    p->get("ir.model.access").create(json::array({{{"model", "sale.order"}, {"group", admin_group[0]},
                                                   {"perm_read", true}, {"perm_write", true}}}));
    {
        auto as_clerk = set_user(clerk);
        auto checked = checking_access();
        CHECK(call(*p, "model.ir.ui.menu.search", roots_domain) == json::array());
        CHECK(call(*p, "model.ir.action.keyword.get_keyword", open_leaf) == json::array());
        CHECK(call(*p, "model.ir.ui.menu.search_read",
                   json::array({json::array(), 0, nullptr, nullptr, json::array({"name"})})) == json::array());
    }
    {
        auto as_admin = set_user(1);
        auto checked = checking_access();
        CHECK(call(*p, "model.ir.ui.menu.search", roots_domain) == json::array({sales, administration}));
    }
}
