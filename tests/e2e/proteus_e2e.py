#!/usr/bin/env python3
"""Scripting atriumd with proteus 6.0 (Debian's tryton-proteus) over XML-RPC
(issue 19): proteus itself connects with HTTP Basic credentials in the URL,
creates a sale with two lines through its Model API, saves it, presses
Confirm with click('confirm') and reads back the number and state; a second
run as a user without the right to create sales gets trytond's access error
as the xmlrpc.client.Fault proteus raises, and nothing is written. Runs on
Debian's /usr/bin/python3, where proteus is importable.

usage: proteus_e2e.py ATRIUMD [DATABASE_URI]
"""
import datetime
import sys
import xmlrpc.client
from decimal import Decimal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server, session_header  # noqa: E402

from proteus import Model, config  # noqa: E402  (Debian's proteus 6.0)

USER_PASSWORD = "dave-Secret-42"


def url(s, login, password):
    return "http://%s:%s@127.0.0.1:%d/%s/" % (login, password, s.port, s.db)


def fault_of(action):
    try:
        action()
    except (xmlrpc.client.Fault, xmlrpc.client.ProtocolError) as error:
        return error
    return None


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    return check_server(Server(atriumd, uri, db="e2e_proteus"), run_checks).finish()


def run_checks(s, c):
    # --- the admin's script ---
    config.set_xmlrpc(url(s, "admin", s.admin_password))
    Sale = Model.get("sale.order")
    order = Sale()
    order.customer = "Proteus Ltd"
    order.sale_date = datetime.date(2026, 2, 28)
    order.lines.new(product="Widget", quantity=Decimal("2"), unit_price=Decimal("9.95"))
    line = order.lines.new(product="Gadget")
    line.quantity = Decimal("1.5")
    line.unit_price = Decimal("10")
    order.save()
    c.check("save(): the sale has an id, is a draft, without a number", order.id > 0 and order.state == "draft"
            and not order.number, (order.id, order.state, order.number))
    c.check("its lines were created with it", sorted(l.product for l in order.lines) == ["Gadget", "Widget"],
            [l.product for l in order.lines])
    c.check("Decimal and date come back as Decimal and date (trytond's __class__ structs)",
            order.total == Decimal("34.90") and order.sale_date == datetime.date(2026, 2, 28),
            (order.total, order.sale_date))

    order.click("confirm")
    c.check("click('confirm'): confirmed, numbered", order.state == "confirmed" and bool(order.number),
            (order.state, order.number))
    c.check("confirmed_at is a datetime (dateTime.iso8601)", isinstance(order.confirmed_at, datetime.datetime),
            repr(order.confirmed_at))
    number = order.number
    found = Sale.find([("number", "=", number)])
    c.check("find() by the number finds it", [o.id for o in found] == [order.id], found)

    # The same seen by another client (JSON-RPC, a session): committed.
    admin = s.login()
    rows = s.result("model.sale.order.read", [[order.id], ["number", "state", "customer"], {}], session=admin)
    c.check("in the database: number and state as proteus read them",
            rows[0]["number"] == number and rows[0]["state"] == "confirmed" and rows[0]["customer"] == "Proteus Ltd",
            rows)

    fault = fault_of(lambda: order.click("confirm"))
    c.check("confirming again: the module's UserError as a Fault, code 1, 'message - description'",
            isinstance(fault, xmlrpc.client.Fault) and fault.faultCode == 1
            and "is not a draft. - Only draft sales can be confirmed." in fault.faultString, repr(fault))

    # --- a user without the right to create sales, made by the admin's script ---
    Group = Model.get("res.group")
    Access = Model.get("ir.model.access")
    User = Model.get("res.user")
    readers = Group(name="Sale Readers")
    readers.save()
    managers = Group(name="Sale Managers")
    managers.save()
    Access(model="sale.order", group=readers, perm_read=True).save()
    Access(model="sale.order", group=managers, perm_read=True, perm_write=True, perm_create=True,
           perm_delete=True).save()
    me = User(1)
    me.groups.append(Group(managers.id))
    me.save()
    # res.user has no "password" field for a record to set (trytond's is a
    # Function field): the user is made by create(), which hashes it.
    User.create([{"name": "Dave", "login": "dave", "password": USER_PASSWORD, "groups": [["add", [readers.id]]]}],
                config.get_config().context)
    count_before = len(Sale.find([]))

    # --- the second run, as dave ---
    config.set_xmlrpc(url(s, "dave", USER_PASSWORD))
    DaveSale = Model.get("sale.order")
    seen = DaveSale.find([])
    c.check("dave may read the sales", [o.number for o in seen] == [number], [o.number for o in seen])
    attempt = DaveSale(customer="Not allowed")
    attempt.lines.new(product="Widget", quantity=Decimal("1"), unit_price=Decimal("1"))
    fault = fault_of(attempt.save)
    c.check("dave's save(): trytond's access error as a proteus exception (Fault 1)",
            isinstance(fault, xmlrpc.client.Fault) and fault.faultCode == 1
            and "not allowed" in fault.faultString.lower() and "Sale" in fault.faultString, repr(fault))
    config.set_xmlrpc(url(s, "admin", s.admin_password))
    c.check("... and nothing was written", len(Model.get("sale.order").find([])) == count_before)

    # --- wrong credentials: HTTP 401, xmlrpc.client's ProtocolError ---
    fault = fault_of(lambda: config.set_xmlrpc(url(s, "dave", "wrong")))
    c.check("a wrong password: ProtocolError 401", isinstance(fault, xmlrpc.client.ProtocolError)
            and fault.errcode == 401, repr(fault))
    # The session header works too (trytond accepts both).
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/%s/" % (s.port, s.db), allow_none=True,
                                      use_builtin_types=True)
    uid, key = proxy.common.db.login("dave", {"password": USER_PASSWORD}, "en")
    with_session = xmlrpc.client.ServerProxy(
        "http://127.0.0.1:%d/%s/" % (s.port, s.db), allow_none=True, use_builtin_types=True,
        headers=[("Authorization", session_header("dave", uid, key))])
    prefs = with_session.model.res.user.get_preferences(True, {})
    c.check("common.db.login over XML-RPC, then the Session header", prefs.get("groups") is not None, prefs)


if __name__ == "__main__":
    sys.exit(main())
