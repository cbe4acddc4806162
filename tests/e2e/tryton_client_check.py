#!/usr/bin/env python3
"""The real Tryton 6.0 desktop client's protocol module (tryton/jsonrpc.py
from Debian's tryton-client, imported as a file to avoid GTK) connects to
atriumd, logs in, reads records with dates and decimals, and logs out.

usage: tryton_client_check.py ATRIUMD JSONRPC_PY [DATABASE_URI]
"""
import datetime
import importlib.util
import sys
from decimal import Decimal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, Checks  # noqa: E402


def load_jsonrpc(path):
    spec = importlib.util.spec_from_file_location("tryton_jsonrpc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    atriumd, jsonrpc_path = sys.argv[1], sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    jsonrpc = load_jsonrpc(jsonrpc_path)
    server = Server(atriumd, uri, db="tryton_client").start()
    c = Checks()
    try:
        # The client probes TLS first on a new host, then falls back to HTTP.
        anonymous = jsonrpc.ServerProxy("127.0.0.1", server.port)
        version = anonymous.common.server.version()
        # The login dialog (dblogin.py) refuses a server whose first two parts differ from its own 6.0.
        c.check("common.server.version: the Tryton series 6.0.x", isinstance(version, str)
                and version.split(".")[:2] == ["6", "0"], version)
        dbs = anonymous.common.db.list()
        c.check("common.db.list lists the database", "tryton_client" in dbs, dbs)

        login = jsonrpc.ServerProxy("127.0.0.1", server.port, "tryton_client")
        try:
            login.common.db.login("admin", {"password": "wrong"}, "en")
            c.check("a wrong password is refused", False)
        except jsonrpc.Fault as fault:
            c.check("a wrong password is refused (401)", str(fault.faultCode) == "401", fault.faultCode)
        result = login.common.db.login("admin", {"password": server.admin_password}, "en")
        c.check("login returns exactly [user id, session key]",
                len(result) == 2 and isinstance(result[0], int) and len(result[1]) == 64, result)
        uid = result[0]

        session = ":".join(map(str, ["admin"] + result))  # as the client's rpc.login joins it
        proxy = jsonrpc.ServerProxy("127.0.0.1", server.port, "tryton_client", session=session)
        users = proxy.model.res.user.read([uid], ["name", "login"], {})
        c.check("res.user.read", users and users[0]["login"] == "admin", users)

        today = datetime.date(2026, 12, 1)
        order_ids = proxy.model.sale.order.create([{
            "customer": "Client \u00e9\u00e8 \U0001F600",
            "sale_date": today,
            "lines": [["create", [
                {"product": "Widget", "quantity": Decimal("3"), "unit_price": Decimal("19.99")},
                {"product": "Gadget", "quantity": Decimal("1"), "unit_price": Decimal("0.01")},
            ]]],
        }], {})
        c.check("sale.order.create with a date and decimals", len(order_ids) == 1, order_ids)
        orders = proxy.model.sale.order.read(order_ids, ["sale_date", "total", "customer", "create_date"], {})
        order = orders[0]
        c.check("a date comes back as datetime.date", order["sale_date"] == today, order)
        c.check("a decimal comes back exact", order["total"] == Decimal("59.98"), order)
        c.check("a datetime comes back as datetime.datetime",
                isinstance(order["create_date"], datetime.datetime), order)
        c.check("non-ASCII text survives", order["customer"] == "Client \u00e9\u00e8 \U0001F600", order)

        # A large request: the client gzips bodies above 1400 bytes once it has a session.
        big = proxy.model.sale.order.search_read([["customer", "like", "%" + "x" * 2000 + "%"]], 0, None, None,
                                                 ["id"], {})
        c.check("a gzip-compressed request is served", big == [], big)

        proxy.common.db.logout()
        try:
            proxy.model.res.user.read([uid], ["name"], {})
            c.check("the session is gone after logout", False)
        except jsonrpc.Fault as fault:
            c.check("the session is gone after logout (401)", str(fault.faultCode) == "401", fault.faultCode)
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
