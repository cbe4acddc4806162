#!/usr/bin/env python3
"""The Tryton 6.0 desktop client's own protocol code against atriumd (issue 18).

tryton/rpc.py and tryton/jsonrpc.py from Debian's tryton-client are loaded
unmodified; only the modules that pull in GTK (bus, device_cookie, common)
and the configuration are replaced by stubs, so that rpc.login builds the
session exactly as the client does. Then every call the client makes from the
login dialog to a saved record is answered in the shape it needs:
server version, the login loop, preferences, list_models/get_access, the
silently ignored calls, read with nested rec_name, _timestamp, access rights.

usage: tryton_protocol_e2e.py ATRIUMD JSONRPC_PY [DATABASE_URI]
"""
import json
import os
import sys
import tempfile
import types
import urllib.error
import urllib.request
import uuid
import xml.dom.minidom
from decimal import Decimal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server  # noqa: E402


def load_client(jsonrpc_path, host, db, config_dir):
    """Imports the client's tryton.rpc with stubs for its GTK-bound siblings."""
    package_dir = os.path.dirname(os.path.abspath(jsonrpc_path))
    tryton = types.ModuleType("tryton")
    tryton.__path__ = [package_dir]  # the real jsonrpc, rpc, fingerprints, exceptions
    sys.modules["tryton"] = tryton

    config = types.ModuleType("tryton.config")
    config.CONFIG = {"login.host": host, "login.db": db, "login.login": "admin", "client.lang": "en_US",
                     "dev": True}  # dev: no client-side cache, every call reaches the server
    config.get_config_dir = lambda: config_dir
    bus = types.ModuleType("tryton.bus")
    bus.ID = str(uuid.uuid4())
    bus.listened = []
    bus.listen = bus.listened.append  # the real one polls <url>/bus in a GLib thread: checked below
    cookie = types.ModuleType("tryton.device_cookie")
    cookie.get = lambda: None  # first login on this machine
    cookie.renew = lambda: None  # asynchronous in the client: called explicitly below
    common = types.ModuleType("tryton.common")

    def get_hostname(netloc):
        return netloc.split(":")[0]

    def get_port(netloc):
        return int(netloc.split(":")[1])
    common.get_hostname, common.get_port = get_hostname, get_port
    for name, module in [("config", config), ("bus", bus), ("device_cookie", cookie), ("common", common)]:
        sys.modules["tryton." + name] = module
        setattr(tryton, name, module)
    import tryton.rpc as rpc  # noqa: E402 (the client's own module)
    import tryton.jsonrpc as jsonrpc  # noqa: E402
    return rpc, jsonrpc, config.CONFIG, bus


def main():
    atriumd, jsonrpc_path = sys.argv[1], sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    server = Server(atriumd, uri, db="tryton_protocol")
    config_dir = tempfile.mkdtemp(prefix="tryton-config-")
    # "host:port " (empty fingerprint): plain HTTP, known; no TLS probe.
    with open(os.path.join(config_dir, "known_hosts"), "w") as f:
        f.write("127.0.0.1:%d \n" % server.port)
    client = load_client(jsonrpc_path, "127.0.0.1:%d" % server.port, server.db, config_dir)
    return check_server(server, lambda s, c: run_checks(s, c, *client)).finish()


def fault_of(fn):
    try:
        fn()
    except Exception as fault:  # jsonrpc.Fault, checked by the caller
        return fault
    return None


def run_checks(s, c, rpc, jsonrpc, CONFIG, bus):
    # --- 1. version: the DBLogin dialog's check (dblogin.py) compares the first two parts ---
    version = rpc.server_version("127.0.0.1", s.port)
    c.check("common.server.version is the served Tryton series 6.0.x",
            isinstance(version, str) and version.split(".")[:2] == ["6", "0"], version)
    resp, _ = s.post("/", {"id": 1, "method": "common.server.version", "params": []}, raw=True)
    c.check("Atrium's own version is in the Server header",
            (resp.getheader("Server") or "").startswith("atrium/"), resp.getheader("Server"))

    # --- 2. the login loop (common.Login calling rpc.login) ---
    parameters = {}
    fault = fault_of(lambda: rpc.login(parameters))
    c.check("first login without a password: LoginException asking for it",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "LoginException"
            and list(fault.args) == ["password", "Password for admin", "password"],  # name, msg, type = args
            (fault, getattr(fault, "args", None)))
    c.check("the client sent its device cookie (null the first time)", parameters == {"device_cookie": None},
            parameters)
    parameters["password"] = "wrong"
    fault = fault_of(lambda: rpc.login(parameters))
    c.check("a wrong password: HTTP 401 (the client clears and asks again)",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "401", fault)
    parameters = {}
    fault = fault_of(lambda: rpc.login(parameters))
    c.check("... and asking again: LoginException again",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "LoginException", fault)
    parameters["password"] = s.admin_password
    fault = fault_of(lambda: rpc.login(parameters))
    c.check("the right password: logged in", fault is None and isinstance(rpc._USER, int), (fault, rpc._USER))
    c.check("the bus was started on the session", len(bus.listened) == 1, bus.listened)
    raw = s.call("common.db.login", ["admin", {"password": s.admin_password, "device_cookie": None}, "en"])
    c.check("common.db.login answers exactly [uid, key]",
            raw[0] == 200 and isinstance(raw[1]["result"], list) and len(raw[1]["result"]) == 2, raw)

    def execute(*args):
        return rpc.execute(*args)

    # --- 3. after login: device cookie, bus, preferences ---
    cookie = execute("model", "res.user.device", "renew", None, dict(rpc.CONTEXT))
    c.check("res.user.device.renew gives a cookie", isinstance(cookie, str) and len(cookie) >= 16, cookie)
    request = urllib.request.Request("http://127.0.0.1:%d/%s/bus" % (s.port, s.db), data=b"{}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        bus_status = 200
    except urllib.error.HTTPError as error:
        bus_status = error.code
    c.check("POST /<db>/bus without a session: 401, as a call (bus_e2e.py checks the bus)", bus_status == 401,
            bus_status)

    context = execute("model", "res.user", "get_preferences", True, dict(rpc.CONTEXT))
    c.check("get_preferences(true): the context", {"language", "language_direction", "groups"} <= set(context)
            and context["language_direction"] == "ltr", context)
    rpc.CONTEXT.update(context)  # RPCContextReload: the context of every later call
    ctx = dict(rpc.CONTEXT)
    prefs = execute("model", "res.user", "get_preferences", False, ctx)
    needed = {"actions", "applications", "avatar", "avatar_badge_url", "avatar_url", "email", "groups", "language",
              "language_direction", "menu", "menu.rec_name", "name", "password", "pyson_menu", "signature",
              "status_bar", "warnings"}
    c.check("get_preferences(false) has every key the client reads", needed <= set(prefs), sorted(needed - set(prefs)))
    c.check("no action runs at login", prefs.get("actions") == [], prefs.get("actions"))
    c.check("the password is never sent", prefs.get("password") == "x" * 10, prefs.get("password"))
    try:
        action = json.loads(prefs["pyson_menu"])  # what PYSONDecoder does first (pure JSON here)
    except Exception as error:
        action = {"error": repr(error)}
    c.check("pyson_menu is the menu act_window, PYSON-encoded (a text)",
            isinstance(prefs.get("pyson_menu"), str) and action.get("res_model") == "ir.ui.menu"
            and action.get("type") == "ir.action.act_window" and isinstance(action.get("views"), list), action)
    c.check("its pyson_domain selects the root menus",
            json.loads(action.get("pyson_domain", "null")) == [["parent", "=", None]], action.get("pyson_domain"))
    c.check("its pyson_context / pyson_order / pyson_search_value are PYSON texts",
            json.loads(action.get("pyson_context", "null")) == {}
            and json.loads(action.get("pyson_search_value", "null")) == []
            and json.loads(action.get("pyson_order", "null"))[0] == ["sequence", "ASC NULLS LAST"], action)
    status = execute("model", "res.user", "set_preferences", {"email": "admin@example.com", "password": "x" * 10},
                     ctx)
    prefs = execute("model", "res.user", "get_preferences", False, ctx)
    c.check("set_preferences (the Preferences dialog) changes the email, ignores the password placeholder",
            status is None and prefs["email"] == "admin@example.com", prefs.get("email"))
    relogin = s.call("common.db.login", ["admin", {"password": s.admin_password}, "en"])
    c.check("... and the password still works", relogin[0] == 200 and "result" in relogin[1], relogin)

    # --- 4. the main window's parallel calls, access rights ---
    models = execute("model", "ir.model", "list_models", ctx)
    c.check("ir.model.list_models lists every model (ir.ui.menu's neighbours too)",
            isinstance(models, list) and {"res.user", "res.group", "sale.order", "sale.order.line",
                                          "ir.ui.view_tree_state"} <= set(models), models)
    for method, expected in [("list_history", []), ]:
        c.check("ir.model.%s answers %r" % (method, expected), execute("model", "ir.model", method, ctx) == expected)
    names = execute("model", "ir.model", "get_names", ctx)
    c.check("ir.model.get_names gives descriptions", names.get("sale.order") == "Sale", names.get("sale.order"))
    c.check("ir.ui.view_search.get_search answers {}",
            execute("model", "ir.ui.view_search", "get_search", ctx) == {})
    # The client asks for up to 100 names around the one it needs, ir.ui.menu included.
    asked = models[:100] + ["ir.ui.menu"]
    access = execute("model", "ir.model.access", "get_access", asked, ctx)
    c.check("get_access answers an entry for every model asked, ir.ui.menu included",
            set(asked) <= set(access) and all(set(v) == {"read", "write", "create", "delete"}
                                              for v in access.values()), sorted(set(asked) - set(access)))
    c.check("admin may write sale.order", access["sale.order"]["write"] is True, access.get("sale.order"))

    state = execute("model", "ir.ui.view_tree_state", "get", "ir.ui.menu", '[["parent", "=", null]]', "childs", ctx)
    c.check("view_tree_state.get without a stored state: ['[]', '[]']", state == ["[]", "[]"], state)
    execute("model", "ir.ui.view_tree_state", "set", "ir.ui.menu", '[["parent", "=", null]]', "childs",
            "[[1]]", "[[1, 2]]", ctx)
    execute("model", "ir.ui.view_tree_state", "set", "ir.ui.menu", '[["parent", "=", null]]', "childs",
            "[[3]]", "[[3]]", ctx)
    state = execute("model", "ir.ui.view_tree_state", "get", "ir.ui.menu", '[["parent", "=", null]]', "childs", ctx)
    c.check("view_tree_state.set then get: the last stored state", state == ["[[3]]", "[[3]]"], state)

    # --- 5. fields, read with nested rec_name, _timestamp ---
    fields = execute("model", "sale.order", "fields_get", None, ctx)
    c.check("fields_get: every definition has loading", all("loading" in d for d in fields.values()),
            [n for n, d in fields.items() if "loading" not in d])
    c.check("fields_get: datetime fields have the PYSON format",
            fields["create_date"].get("format") == '"%H:%M:%S"', fields["create_date"])
    c.check("fields_get: one2many lines has relation_field order",
            fields["lines"].get("relation_field") == "order" and fields["lines"]["loading"] == "lazy",
            fields["lines"])
    c.check("fields_get: char fields have autocomplete",
            fields["customer"].get("autocomplete") == [], fields["customer"])
    c.check("fields_get: rec_name on every model", fields.get("rec_name", {}).get("type") == "char",
            fields.get("rec_name"))
    for key in ("states", "domain", "context", "depends", "searchable", "sortable", "create", "delete"):
        c.check("fields_get: key %s everywhere" % key, all(key in d for d in fields.values()))

    users = execute("model", "res.user", "read", [rpc._USER],
                    ["name", "create_uid", "create_uid.rec_name", "write_uid.rec_name", "rec_name", "_timestamp",
                     "_write", "_delete"], ctx)
    u = users[0]
    c.check("read: rec_name", u.get("rec_name") == u.get("name"), u)
    c.check("read: '<many2one>.rec_name' comes back nested under '<many2one>.'",
            "create_uid.rec_name" not in u and (u.get("create_uid.") is None if u.get("create_uid") is None
                                                else u["create_uid."].get("rec_name")), u)
    c.check("read: '<field>.<path>' alone gives '<field>.' only, not the field itself",
            "write_uid." in u and "write_uid" not in u, u)
    c.check("read: _write and _delete are booleans", u.get("_write") is True and u.get("_delete") is True, u)
    c.check("read: _timestamp is an opaque text", isinstance(u.get("_timestamp"), str), u)

    order_id = execute("model", "sale.order", "create",
                       [{"customer": "Protocol", "lines": [["create", [
                           {"product": "P" * 1500, "quantity": Decimal("2"), "unit_price": Decimal("9.95")}]]]}],
                       ctx)[0]  # over 1400 bytes: gzipped by the client
    lines = execute("model", "sale.order.line", "search_read", [["order", "=", order_id]], 0, None, None,
                    ["order", "order.rec_name", "rec_name"], ctx)
    c.check("search_read: nested order. with rec_name (the id without a number)",
            lines and lines[0]["order."] == {"id": order_id, "rec_name": str(order_id)}, lines)
    orders = execute("model", "sale.order", "read", [order_id], ["lines.rec_name", "customer", "_timestamp"], ctx)
    c.check("read: an x2many '<field>.rec_name' is a list of nested maps",
            isinstance(orders[0].get("lines."), list) and len(orders[0]["lines."]) == 1, orders)
    fault = fault_of(lambda: execute("model", "sale.order", "read", [order_id], ["customer.rec_name"], ctx))
    c.check("read: '<not a relation>.rec_name' is a UserError naming the field",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "UserError" and "customer" in fault.args[0],
            getattr(fault, "args", fault))
    c.check("resources: zero counts",
            execute("model", "sale.order", "resources", order_id, ctx)
            == {"attachment_count": 0, "note_count": 0, "note_unread": 0})
    stamp = orders[0]["_timestamp"]
    admin = s.login()
    s.result("model.sale.order.write", [[order_id], {"reference": "changed elsewhere"}, {}], session=admin)
    stale = dict(ctx, _timestamp={"sale.order,%d" % order_id: stamp})
    fault = fault_of(lambda: execute("model", "sale.order", "write", [order_id], {"customer": "Mine"}, stale))
    c.check("a stale _timestamp: ConcurrencyException with a text (the client's Write Anyway dialog)",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "ConcurrencyException"
            and isinstance(fault.faultString, str), (fault, getattr(fault, "faultString", None)))
    execute("model", "sale.order", "write", [order_id], {"customer": "Mine"}, ctx)  # Write Anyway: no _timestamp
    c.check("Write Anyway (the same write without _timestamp) passes",
            execute("model", "sale.order", "read", [order_id], ["customer"], ctx)[0]["customer"] == "Mine")
    # A button sends the _timestamp the client holds too (screen.py button path): confirm writes the
    # order, so a stale one is the same ConcurrencyException, and nothing is confirmed.
    fault = fault_of(lambda: execute("model", "sale.order", "confirm", [order_id], stale))
    after = execute("model", "sale.order", "read", [order_id], ["state", "number", "_timestamp"], ctx)[0]
    c.check("Confirm with a stale _timestamp: ConcurrencyException, the order stays an unnumbered draft",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "ConcurrencyException"
            and after["state"] == "draft" and not after["number"], (fault, after))
    c.check("a line's rec_name is its product", lines[0]["rec_name"] == "P" * 1500, lines[0]["rec_name"][:20])
    execute("model", "sale.order", "confirm", [order_id], ctx)
    named = execute("model", "sale.order.line", "search_read", [["order", "=", order_id]], 0, None, None,
                    ["order.rec_name"], ctx)
    number = execute("model", "sale.order", "read", [order_id], ["number"], ctx)[0]["number"]
    c.check("a confirmed order's rec_name is its number, as Tryton names a sale",
            number and named[0]["order."] == {"id": order_id, "rec_name": number}, (number, named))
    fault = fault_of(lambda: execute("model", "sale.order", "delete", [order_id], stale))
    c.check("delete with a stale _timestamp: ConcurrencyException",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "ConcurrencyException", fault)

    # --- 6. a user without write access ---
    readers = execute("model", "res.group", "create", [{"name": "Sale Readers"}], ctx)[0]
    managers = execute("model", "res.group", "create", [{"name": "Sale Managers", "parent": readers}], ctx)[0]
    groups = execute("model", "res.group", "read", [readers, managers], ["parent.rec_name", "rec_name"], ctx)
    c.check("read: an empty many2one gives '<field>.': null; a set one its id and rec_name",
            groups[0]["parent."] is None and groups[1]["parent."] == {"id": readers, "rec_name": "Sale Readers"},
            groups)
    execute("model", "ir.model.access", "create", [
        {"model": "sale.order", "group": readers, "perm_read": True},
        {"model": "sale.order", "group": managers, "perm_read": True, "perm_write": True, "perm_create": True,
         "perm_delete": True}], ctx)
    execute("model", "res.user", "write", [rpc._USER], {"groups": [["add", [managers]]]}, ctx)
    execute("model", "res.user", "create", [{"name": "Carol", "login": "carol", "password": "carol-Secret-42",
                                             "groups": [["add", [readers]]]}], ctx)
    rpc.logout()
    CONFIG["login.login"] = "carol"
    rpc.login({"password": "carol-Secret-42"})
    carol_ctx = dict(rpc.CONTEXT)
    access = execute("model", "ir.model.access", "get_access", ["sale.order", "ir.ui.menu"], carol_ctx)
    c.check("get_access: carol may read sale.order, not write, create or delete",
            access["sale.order"] == {"read": True, "write": False, "create": False, "delete": False}, access)
    form = execute("model", "sale.order", "fields_view_get", None, "form", carol_ctx)
    button = xml.dom.minidom.parseString(form["arch"]).getElementsByTagName("button")
    c.check("fields_view_get for carol: the Confirm button is readonly",
            button and json.loads(button[0].getAttribute("states")).get("readonly") is True, form["arch"])
    rows = execute("model", "sale.order", "read", [order_id], ["customer", "_write", "_delete"], carol_ctx)
    c.check("read: _write/_delete false for carol", rows[0]["_write"] is False and rows[0]["_delete"] is False, rows)
    fault = fault_of(lambda: execute("model", "sale.order", "write", [order_id], {"customer": "Carol's"}, carol_ctx))
    c.check("carol's write is refused with a UserError (the client's warning dialog)",
            isinstance(fault, jsonrpc.Fault) and fault.faultCode == "UserError", fault)
    rpc.logout()
    c.check("common.db.logout through the client's rpc.logout", rpc.CONNECTION is None)


if __name__ == "__main__":
    sys.exit(main())
