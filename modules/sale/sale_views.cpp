#include "modules/sale/sale_views.hpp"

namespace atrium::modules::sale {

button_def confirm_button() {
    // Tryton's {'invisible': Eval('state') != 'draft', 'depends': ['state']}, PYSON-encoded.
    return {.name = "confirm",
            .string = "Confirm",
            .states = R"({"invisible": {"__class__": "Not", "v": {"__class__": "Equal", "s1": {"__class__": "Eval", )"
                      R"("v": "state", "d": ""}, "s2": "draft"}}, "depends": ["state"]})"};
}

std::string readonly_unless_draft() {
    // Tryton's {'readonly': Eval('state') != 'draft'}, PYSON-encoded.
    return R"({"readonly": {"__class__": "Not", "v": {"__class__": "Equal", "s1": {"__class__": "Eval", )"
           R"("v": "state", "d": ""}, "s2": "draft"}}})";
}

ui_def views() {
    ui_def ui;
    // The lines first: the order's form shows them with this editable tree.
    ui.view("sale_order_line_tree_editable", "sale.order.line", "tree",
            R"(<tree editable="1"><field name="product" expand="1"/><field name="quantity"/>)"
            R"(<field name="unit_price"/><field name="amount"/></tree>)")
        .priority = 10;
    ui.view("sale_order_line_form", "sale.order.line", "form",
            R"(<form><label name="order"/><field name="order"/><label name="product"/><field name="product"/>)"
            R"(<label name="quantity"/><field name="quantity"/><label name="unit_price"/><field name="unit_price"/>)"
            R"(<label name="amount"/><field name="amount"/></form>)");
    ui.view("sale_order_tree", "sale.order", "tree",
            R"(<tree><field name="number" expand="1"/><field name="customer" expand="2"/>)"
            R"(<field name="sale_date"/><field name="total"/><field name="state"/></tree>)");
    ui.view("sale_order_form", "sale.order", "form",
            R"(<form col="4"><label name="customer"/><field name="customer"/>)"
            R"(<label name="number"/><field name="number"/>)"
            R"(<label name="sale_date"/><field name="sale_date"/><label name="state"/><field name="state"/>)"
            R"(<field name="lines" colspan="4" view_ids="sale.sale_order_line_tree_editable"/>)"
            R"(<label name="salesman"/><field name="salesman"/><label name="total"/><field name="total"/>)"
            R"(<group id="buttons" col="-1" colspan="4">)"
            R"(<button name="confirm" string="Confirm" icon="tryton-forward"/></group></form>)");
    ui.action("act_sale_order", "Sales", "sale.order", {"sale_order_tree", "sale_order_form"});
    ui.menu("menu_sale", "Sales").icon = "tryton-folder";
    ui.menu("menu_sale_order", "Sales", "menu_sale", "act_sale_order");
    return ui;
}

}  // namespace atrium::modules::sale
