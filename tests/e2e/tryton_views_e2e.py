#!/usr/bin/env python3
"""The views, actions and menus as the Tryton 6.0 client uses them, driven
through the real client's protocol module (tryton/jsonrpc.py, loaded as a
file as tryton_client_check.py does) with a session built as the client's
rpc.login builds it: the menu tree, get_keyword on a menu, the window
action, fields_view_get of sale.order (tree and form), an order created with
two inline lines, the Confirm button, and a user who cannot read sale.order
not seeing its menu.

usage: tryton_views_e2e.py ATRIUMD JSONRPC_PY [DATABASE_URI]
"""
import importlib.util
import sys
import xml.dom.minidom
from decimal import Decimal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, Checks  # noqa: E402

MENU_FIELDS = ["active", "childs", "favorite", "icon", "name", "parent", "parent.rec_name", "rec_name",
               "_timestamp", "_write", "_delete"]
DRAFT_ONLY_STATES = ('{"readonly": {"__class__": "Not", "v": {"__class__": "Equal", "s1": {"__class__": "Eval", '
                     '"v": "state", "d": ""}, "s2": "draft"}}}')
CONFIRM_STATES = ('{"invisible": {"__class__": "Not", "v": {"__class__": "Equal", "s1": {"__class__": "Eval", '
                  '"v": "state", "d": ""}, "s2": "draft"}}, "depends": ["state"]}')


def load_jsonrpc(path):
    spec = importlib.util.spec_from_file_location("tryton_jsonrpc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client_session(jsonrpc, port, db, login, password):
    """rpc.login (C/rpc.py): the login parameters, then session = login:uid:key.
    The client joins every element of the answer, so this needs login to answer
    exactly [uid, key] (issue 18's protocol part; a third element gives a 401)."""
    connection = jsonrpc.ServerProxy("127.0.0.1", port, db)
    result = connection.common.db.login(login, {"device_cookie": None, "password": password}, "en")
    session = ':'.join(map(str, [login] + result))
    return jsonrpc.ServerProxy("127.0.0.1", port, db, session=session)


def elements(arch, tag):
    return xml.dom.minidom.parseString(arch).getElementsByTagName(tag)


def walk(c, proxy, ctx):
    menu = proxy.model.ir.ui.menu
    view = menu.fields_view_get(None, "tree", dict(ctx, view_tree_width=True))
    c.check("the menu tree view: field_childs childs", view["field_childs"] == "childs", view)
    c.check("the menu tree names name and favorite",
            {"name", "favorite", "childs", "parent", "active", "icon"} <= set(view["fields"]), view["fields"].keys())

    # IconFactory.register_icon: list_icons, then read(name, icon), whose text it encodes and draws.
    icons = proxy.model.ir.ui.icon.list_icons(ctx)
    drawn = proxy.model.ir.ui.icon.read([i for i, _ in icons], ["name", "icon"], ctx)
    c.check("every listed icon reads as SVG text (a null breaks the menu tree)",
            "tryton-folder" in [n for _, n in icons] and len(drawn) == len(icons)
            and all(isinstance(d["icon"], str) and d["icon"].startswith("<svg") for d in drawn), drawn)
    roots = menu.search([["parent", "=", None]], 0, None, None, ctx)
    rows = menu.read(roots, MENU_FIELDS, ctx)
    by_name = {r["name"]: r for r in rows}
    c.check("admin sees the root menus Sales and Administration", {"Sales", "Administration"} <= set(by_name), rows)
    sales = by_name.get("Sales", {})
    c.check("a root menu reads as the client needs it",
            sales.get("parent") is None and sales.get("parent.") is None and sales.get("rec_name") == "Sales"
            and sales.get("favorite") is None and isinstance(sales.get("_timestamp"), str)
            and isinstance(sales.get("_write"), bool), sales)
    c.check("get_keyword on a folder is empty", proxy.model.ir.action.keyword.get_keyword(
        "tree_open", ("ir.ui.menu", sales["id"]), ctx) == [])
    children = menu.read(sales["childs"], MENU_FIELDS, ctx)
    leaf = children[0] if children else {}
    c.check("the leaf Sales / Sales", leaf.get("rec_name") == "Sales / Sales" and leaf.get("favorite") is False
            and leaf.get("parent.") == {"id": sales["id"], "rec_name": "Sales"}, children)
    admin_menu = menu.read(by_name["Administration"]["childs"], MENU_FIELDS, ctx)
    c.check("Administration / Users and Groups", [m["rec_name"] for m in admin_menu]
            == ["Administration / Users", "Administration / Groups"], admin_menu)

    actions = proxy.model.ir.action.keyword.get_keyword("tree_open", ("ir.ui.menu", leaf["id"]), ctx)
    c.check("get_keyword on the leaf: one act_window", len(actions) == 1, actions)
    action = actions[0]
    needed = {"type", "id", "name", "pyson_domain", "pyson_order", "domains", "context_model", "context_domain",
              "views", "pyson_context", "pyson_search_value", "res_model", "limit", "keyword"}
    c.check("the action has every key the client reads", needed <= set(action), action)
    c.check("the action opens sale.order, list then form",
            action["type"] == "ir.action.act_window" and action["res_model"] == "sale.order"
            and [v[1] for v in action["views"]] == ["tree", "form"] and action["keyword"] == "tree_open"
            and action["name"] == "Sales" and action["pyson_domain"] == "[]", action)
    c.check("pyson_order is the model's order", action["pyson_order"] == '[["id", null]]', action["pyson_order"])
    users_action = proxy.model.ir.action.keyword.get_keyword("tree_open", ("ir.ui.menu", admin_menu[0]["id"]), ctx)
    c.check("a child menu's action is named after its path",
            users_action and users_action[0]["name"] == "Administration / Users", users_action)
    window = proxy.model.ir.action.act_window.read([action["id"]], ["res_model", "domain", "act_window_views"], ctx)
    c.check("the act_window reads back", window[0]["res_model"] == "sale.order"
            and len(window[0]["act_window_views"]) == 2, window)

    tree_id, form_id = action["views"][0][0], action["views"][1][0]
    tree = proxy.model.sale.order.fields_view_get(tree_id, "tree", dict(ctx, view_tree_width=True))
    c.check("tree: view_id echoed, model, type", tree["view_id"] == tree_id and tree["model"] == "sale.order"
            and tree["type"] == "tree" and tree["field_childs"] is None, {k: tree[k] for k in tree if k != "fields"})
    names = {f.getAttribute("name") for f in elements(tree["arch"], "field")}
    c.check("tree: every field of the arch is defined", names <= set(tree["fields"]), (names, tree["fields"].keys()))
    toolbar = proxy.model.sale.order.view_toolbar_get(ctx)
    c.check("view_toolbar_get keys", sorted(toolbar) == ["action", "emails", "exports", "print", "relate"], toolbar)

    form = proxy.model.sale.order.fields_view_get(form_id, "form", dict(ctx, view_tree_width=True))
    buttons = elements(form["arch"], "button")
    button = buttons[0] if buttons else None
    c.check("form: the Confirm button, states as Tryton encodes them",
            button is not None and button.getAttribute("states") == CONFIRM_STATES
            and button.getAttribute("type") == "class" and button.getAttribute("string") == "Confirm"
            and button.hasAttribute("help") and button.hasAttribute("confirm"), form["arch"])
    c.check("form: state is defined (the button depends on it)", "state" in form["fields"])
    customer = form["fields"].get("customer", {})
    c.check("form: customer is readonly unless the order is a draft (states, depends on state)",
            customer.get("states") == DRAFT_ONLY_STATES and customer.get("depends") == ["state"]
            and form["fields"].get("lines", {}).get("states") == DRAFT_ONLY_STATES, customer)
    c.check("form: number and total stay readonly, without states",
            form["fields"]["number"]["readonly"] is True and form["fields"]["number"]["states"] == "{}",
            form["fields"]["number"])
    lines_node = [f for f in elements(form["arch"], "field") if f.getAttribute("name") == "lines"]
    lines_def = form["fields"].get("lines", {})
    sub_views = lines_def.get("views", {})
    line_tree_id = lines_node[0].getAttribute("view_ids") if lines_node else ""
    c.check("form: lines shown tree,form with a numeric view id",
            lines_node and lines_node[0].getAttribute("mode") == "tree,form" and line_tree_id.isdigit(), form["arch"])
    sub = sub_views.get(line_tree_id, {})
    c.check("form: the lines' editable tree is preloaded",
            lines_def.get("relation_field") == "order" and sub.get("model") == "sale.order.line"
            and elements(sub.get("arch", "<tree/>"), "tree")[0].getAttribute("editable") == "1"
            and {"product", "quantity", "unit_price", "amount"} <= set(sub.get("fields", {})), lines_def)

    # Ctrl+N, two lines in the editable list, Ctrl+S: what the client sends.
    writable = [n for n, d in form["fields"].items() if not d.get("readonly") and d["type"] != "one2many"]
    defaults = proxy.model.sale.order.default_get(list(form["fields"]), dict(ctx, default_rec_name=None))
    values = {n: defaults.get(n) for n in writable}
    values.update({"customer": "Views Customer", "lines": [["create", [
        {"product": "Widget", "quantity": Decimal("2"), "unit_price": Decimal("10.00")},
        {"product": "Gadget", "quantity": Decimal("1"), "unit_price": Decimal("5.50")}]]]})
    order_ids = proxy.model.sale.order.create([values], ctx)
    order = proxy.model.sale.order.read(order_ids, ["lines", "state", "total", "_timestamp"], ctx)[0]
    c.check("the order is created with its two lines",
            len(order["lines"]) == 2 and order["total"] == Decimal("25.50") and order["state"] == "draft", order)
    lines = proxy.model.sale.order.line.read(order["lines"], list(sub.get("fields", {})), ctx)
    c.check("its lines read with the editable tree's fields", sorted(l["product"] for l in lines)
            == ["Gadget", "Widget"], lines)

    # Alt+C: the button name is the method, called with the ids and the _timestamp.
    stamp = {"sale.order,%d" % order["id"]: order["_timestamp"]}
    result = proxy.model.sale.order.confirm(order_ids, dict(ctx, _timestamp=stamp))
    after = proxy.model.sale.order.read(order_ids, ["state", "number"], ctx)[0]
    c.check("Confirm: confirmed and numbered", result is None and after["state"] == "confirmed"
            and after["number"], (result, after))
    return leaf["id"], sales["id"], by_name["Administration"]["id"]


def main():
    atriumd, jsonrpc_path = sys.argv[1], sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    jsonrpc = load_jsonrpc(jsonrpc_path)
    server = Server(atriumd, uri, db="tryton_views").start()
    c = Checks()
    ctx = {"client": "e2e", "language": "en", "language_direction": "ltr"}
    try:
        admin = client_session(jsonrpc, server.port, "tryton_views", "admin", server.admin_password)
        sales_leaf, sales_root, administration = walk(c, admin, ctx)

        # Sales only for the Administration group: a clerk (no group) may read no sale.
        groups = admin.model.res.group.search([["name", "=", "Administration"]], 0, None, None, ctx)
        admin.model.ir.model.access.create([{"model": "sale.order", "group": groups[0], "perm_read": True,
                                             "perm_write": True, "perm_create": True, "perm_delete": True}], ctx)
        admin.model.res.user.create([{"name": "Clerk", "login": "clerk", "password": "clerk-secret-1"}], ctx)
        clerk = client_session(jsonrpc, server.port, "tryton_views", "clerk", "clerk-secret-1")
        roots = clerk.model.ir.ui.menu.search([["parent", "=", None]], 0, None, None, ctx)
        c.check("the clerk sees neither Sales nor Administration",
                sales_root not in roots and administration not in roots, roots)
        c.check("the clerk's get_keyword on Sales / Sales is empty",
                clerk.model.ir.action.keyword.get_keyword("tree_open", ("ir.ui.menu", sales_leaf), ctx) == [])
        try:
            clerk.model.ir.ui.menu.read([sales_leaf], MENU_FIELDS, ctx)
            c.check("the clerk cannot read the hidden menu", False)
        except jsonrpc.Fault as fault:
            c.check("the clerk cannot read the hidden menu", "menus" in str(fault.args), fault.args)
        still = admin.model.ir.ui.menu.search([["parent", "=", None]], 0, None, None, ctx)
        c.check("admin still sees Sales", sales_root in still, still)
    except Exception as error:  # report, do not hide
        c.check("no unexpected exception", False, repr(error))
    finally:
        rc = server.stop()
        c.check("atriumd exits 0 on SIGTERM", rc == 0, rc)
        if c.failures:
            print(server.output()[-4000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
