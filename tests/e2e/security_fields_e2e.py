#!/usr/bin/env python3
"""Issue 17, point 1 (and the modules' side of 11/12), over HTTP as an
unprivileged user: a secret field (res.user.password_hash) and models the
caller may not read are unusable in domains, dotted paths, `order` and read
fields, with an access error and nothing leaked; integer fields take a
Decimal; a non-object `_timestamp` is kept and refused by a write.

usage: security_fields_e2e.py ATRIUMD [POSTGRESQL_DSN]
"""

import json
import sys

from atrium_server import Server, check_server, session_header

PASSWORD = "mallory-Secret-9"


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    return check_server(Server(atriumd, uri, db="e2e_fields"), run_checks).finish()


def decimal(text):
    return {"__class__": "Decimal", "decimal": text}


def access_denied(status, body):
    """The Tryton dialect's access error: HTTP 200, ["UserError", [message, description, domain]]."""
    if status != 200 or not isinstance(body, dict) or "result" in body:
        return False
    error = body.get("error")
    return (isinstance(error, list) and len(error) == 2 and error[0] == "UserError"
            and isinstance(error[1], list) and "not allowed" in error[1][0])


def run_checks(s, c):
    admin = s.login()
    admin_group = s.result("model.res.group.search", [[["name", "=", "Administration"]], {}], session=admin)[0]
    order = s.result("model.sale.order.create", [[{"customer": "Acme", "salesman": admin[1]}], {}], session=admin)[0]
    # Mallory: a password, no Administration group, the right to read sales.
    readers = s.result("model.res.group.create", [[{"name": "Sale readers"}], {}], session=admin)[0]
    s.result("model.res.user.create", [[{"name": "Mallory", "login": "mallory", "password": PASSWORD,
                                         "groups": [["add", [readers]]]}], {}], session=admin)
    s.result("model.ir.model.access.create", [[
        {"model": "sale.order", "group": readers, "perm_read": True},
        {"model": "sale.order", "group": admin_group, "perm_read": True, "perm_write": True,
         "perm_create": True, "perm_delete": True},
        # User warnings: administrators only (a model a path can cross).
        {"model": "res.user.warning", "group": admin_group, "perm_read": True}], {}], session=admin)
    mallory = s.login("mallory", PASSWORD)
    c.check("the unprivileged user logs in (login still verifies the hash)", mallory[1] > 1, mallory)
    c.check("a wrong password is still refused",
            s.call("common.db.login", ["mallory", {"password": "guess"}, "en"])[0] == 401)

    # What mallory may do, she still can.
    count = s.result("model.sale.order.search_count", [[["salesman.login", "=", "admin"]], {}], session=mallory)
    c.check("a readable dotted path still works", count == 1, count)
    rows = s.result("model.sale.order.search_read", [[], 0, None, [["customer", "DESC"]], ["customer", "salesman"], {}],
                    session=mallory)
    c.check("search_read with readable fields and order still works",
            [r["customer"] for r in rows] == ["Acme"] and rows[0]["salesman"] == admin[1], rows)

    like = ["salesman.password_hash", "like", "$argon2id$%"]
    attacks = [
        ("sale.order search_count on salesman.password_hash", "model.sale.order.search_count", [[like], {}]),
        ("sale.order search on salesman.password_hash", "model.sale.order.search", [[like], 0, None, None, {}]),
        ("the same nested in OR", "model.sale.order.search",
         [[["OR", ["customer", "=", "Acme"], ["salesman.password_hash", "!=", None]]], {}]),
        ("create_uid.password_hash", "model.sale.order.search_count",
         [[["create_uid.password_hash", "like", "$%"]], {}]),
        ("a direct res.user domain", "model.res.user.search_count", [[["password_hash", "like", "$argon2id$%"]], {}]),
        ("a direct res.user domain with ilike", "model.res.user.search",
         [[["password_hash", "ilike", "%A%"]], 0, None, None, {}]),
        ("order on res.user.password_hash", "model.res.user.search",
         [[], 0, None, [["password_hash", "ASC"]], {}]),
        ("order on salesman.password_hash", "model.sale.order.search",
         [[], 0, None, [["salesman.password_hash", "DESC"]], {}]),
        ("search_read fields naming the secret field", "model.res.user.search_read",
         [[], 0, None, None, ["login", "password_hash"], {}]),
        ("search_read fields naming a dotted path to it", "model.sale.order.search_read",
         [[], 0, None, None, ["salesman.password_hash"], {}]),
        ("read of the secret field", "model.res.user.read", [[admin[1]], ["password_hash"], {}]),
        ("a dotted path crossing a model the user cannot read (second crossing)", "model.sale.order.search_count",
         [[["salesman.warnings.name", "like", "%"]], {}]),
        ("a bare x2many into a model the user cannot read", "model.res.user.search_count",
         [[["warnings", "!=", None]], {}]),
    ]
    for name, method, params in attacks:
        status, body = s.call(method, params, session=mallory)
        c.check("access error: " + name, access_denied(status, body), (status, body))
        c.check("nothing leaked: " + name, "argon2" not in json.dumps(body), body)

    # No oracle: a matching and a non-matching prefix answer the same.
    answers = set()
    for prefix in ("$argon2id$%", "$zzz%", "%"):
        status, body = s.call("model.sale.order.search_count",
                              [[["salesman.password_hash", "like", prefix]], {}], session=mallory)
        answers.add(json.dumps([status, body], sort_keys=True))
    c.check("matching and non-matching prefixes answer alike", len(answers) == 1, answers)

    # JSON-RPC 2.0: the access error's own code.
    status, body, _ = s.post("/%s/" % s.db, {"jsonrpc": "2.0", "id": 7, "method": "model.sale.order.search_count",
                                             "params": [[like], {}]},
                             {"Authorization": session_header(*mallory)})
    c.check("JSON-RPC 2.0: access error code -32005",
            status == 200 and body.get("error", {}).get("code") == -32005 and "result" not in body, (status, body))

    # Point 11: ids and integer fields compared with a Decimal or an integral float.
    for name, domain in (("id = Decimal", [["id", "=", decimal(str(order))]]),
                         ("id in [Decimal, float]", [["id", "in", [decimal("%d.0" % order), float(order)]]]),
                         ("many2one = Decimal", [["salesman", "=", decimal(str(admin[1]))]])):
        status, body = s.call("model.sale.order.search", [domain, {}], session=mallory)
        c.check(name + " finds the record", status == 200 and body.get("result") == [order], (status, body))
    status, body = s.call("model.sale.order.search", [[["id", "=", decimal("1.5")]], {}], session=mallory)
    c.check("id = Decimal 1.5: a user error saying it is not an integer",
            status == 200 and body.get("error", [None])[0] == "UserError" and "not an integer" in body["error"][1][0],
            (status, body))

    # Point 12: a non-object _timestamp is kept; a write refuses it instead of skipping the lock.
    status, body = s.call("model.sale.order.write",
                          [[order], {"customer": "Changed"}, {"_timestamp": "2000-01-01 00:00:00"}], session=admin)
    c.check("write with a non-object _timestamp: a user error naming it",
            status == 200 and body.get("error", [None])[0] == "UserError" and "_timestamp" in body["error"][1][0],
            (status, body))
    customer = s.result("model.sale.order.read", [[order], ["customer"], {}], session=admin)[0]["customer"]
    c.check("... and nothing was written", customer == "Acme", customer)
    status, body = s.call("model.sale.order.read", [[order], ["customer"], {"_timestamp": "x"}], session=admin)
    c.check("a read with a non-object _timestamp is not concerned", status == 200 and "result" in body, body)
    s.result("model.sale.order.write", [[order], {"customer": "Changed"}, {"_timestamp": None}], session=admin)
    s.result("model.sale.order.write", [[order], {"reference": "R"}, {"_timestamp": {}}], session=admin)
    c.check("an empty _timestamp (null, {}) asks for nothing", True)


if __name__ == "__main__":
    sys.exit(main())
