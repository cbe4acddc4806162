#include "modules/res/res_views.hpp"

namespace atrium::modules::res {

ui_def views() {
    ui_def ui;
    ui.view("group_view_tree", "res.group", "tree",
            R"(<tree><field name="name" expand="1"/><field name="parent"/></tree>)");
    ui.view("group_view_form", "res.group", "form",
            R"(<form><label name="name"/><field name="name"/><label name="parent"/>)"
            R"(<field name="parent"/><field name="users" colspan="4"/></form>)");
    ui.view("user_view_tree", "res.user", "tree",
            R"(<tree><field name="name" expand="2"/><field name="login" expand="1"/></tree>)");
    ui.view("user_view_form", "res.user", "form",
            R"(<form><label name="name"/><field name="name"/><label name="login"/><field name="login"/>)"
            R"(<label name="email"/><field name="email"/><label name="language"/><field name="language"/>)"
            R"(<label name="active"/><field name="active"/><field name="groups" colspan="4"/>)"
            R"(<field name="signature" colspan="4"/></form>)");
    ui.action("act_user_form", "Users", "res.user", {"user_view_tree", "user_view_form"});
    ui.action("act_group_form", "Groups", "res.group", {"group_view_tree", "group_view_form"});
    auto& administration = ui.menu("menu_administration", "Administration");
    administration.sequence = 9000;
    administration.icon = "tryton-settings";
    administration.groups = {"Administration"};
    ui.menu("menu_user", "Users", "menu_administration", "act_user_form").sequence = 10;
    ui.menu("menu_group", "Groups", "menu_administration", "act_group_form").sequence = 20;
    return ui;
}

}  // namespace atrium::modules::res
