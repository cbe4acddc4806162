#!/usr/bin/env python3
"""End-to-end checks of atriumd's dispatch (SPEC §6-§8) over real HTTP:
login/logout/forged sessions/rate limit, access rights, both dialects against
module methods, special types, the sale example's confirm path under
concurrency (lock_table retry), retried write conflicts, SIGTERM.

usage: dispatch_e2e.py ATRIUMD [DATABASE_URI]
"""
import base64
import sys
import time
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server, session_header, wait_for  # noqa: E402

DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731
DATE = lambda y, m, d: {"__class__": "date", "year": y, "month": m, "day": d}  # noqa: E731


def parallel(n, fn):
    results = [None] * n

    def run(i):
        try:
            results[i] = fn(i)
        except Exception as error:  # collected, checked by the caller
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    config = "[session]\nmax_attempt = 3\n"
    return check_server(Server(atriumd, uri, extra_config=config, db="e2e"), run_checks).finish()


def run_checks(s, c):
    db = "/%s/" % s.db
    # --- login, sessions ---
    status, body = s.call("common.db.login", ["admin", {"password": "nope"}, "en"])
    c.check("login with a wrong password: 401", status == 401, (status, body))
    status, body = s.call("common.db.login", ["admin", {"device_cookie": None}, "en"])
    c.check("login without password: LoginException asking for it (the 6.0 client's dialog)",
            status == 200 and body.get("error") == ["LoginException", ["password", "Password for admin", "password"]],
            body)
    status, body = s.call("common.db.login", ["admin", {"password": s.admin_password}, "en"])
    c.check("login returns exactly [uid, 64-hex key]",
            status == 200 and len(body["result"]) == 2 and len(body["result"][1]) == 64, body)
    status, body, _ = s.post(db, {"jsonrpc": "2.0", "id": 7, "method": "common.db.login", "params": ["admin", {}, "en"]})
    c.check("JSON-RPC 2.0 login without password: error -32003 carrying the LoginException",
            status == 200 and body["error"]["code"] == -32003 and body["error"]["data"][0] == "LoginException", body)
    status, body, _ = s.post(db, {"jsonrpc": "2.0", "id": 8, "method": "common.db.login",
                                  "params": ["admin", {"password": s.admin_password}, "en"]})
    c.check("JSON-RPC 2.0 login: the same [uid, key]", status == 200 and len(body["result"]) == 2, body)
    admin = s.login()
    users = s.result("model.res.user.read", [[admin[1]], ["name", "login"], {}], session=admin)
    c.check("session call: res.user.read", users[0]["login"] == "admin" and users[0]["id"] == admin[1], users)

    forged = (admin[0], admin[1], "0" * 64)
    status, body = s.call("model.res.user.read", [[admin[1]], ["name"], {}], session=forged)
    c.check("forged session key: 401", status == 401, status)
    resp, _ = s.post(db, {"id": 1, "method": "model.res.user.read", "params": [[1], ["name"], {}]}, raw=True)
    c.check("no authorization: 401 with WWW-Authenticate Basic",
            resp.status == 401 and "Basic" in (resp.getheader("WWW-Authenticate") or ""), resp.status)
    resp, _ = s.post(db, {"id": 1, "method": "model.res.user.read", "params": [[1], ["name"], {}]},
                     {"X-Requested-With": "XMLHttpRequest"}, raw=True)
    c.check("XMLHttpRequest: 401 without WWW-Authenticate",
            resp.status == 401 and resp.getheader("WWW-Authenticate") is None, resp.status)
    for bad in ["Session " + base64.b64encode(b"admin:1").decode(), "Session !!!", "Bearer x",
                "Session " + base64.b64encode(b"admin:x:key").decode()]:
        status, _, _ = s.post(db, {"id": 1, "method": "model.res.user.read", "params": [[1], ["name"], {}]},
                              {"Authorization": bad})
        c.check("malformed authorization %r: 401" % bad[:20], status == 401, status)
    status, body = s.call("model.res.user.nonexistent", [{}], session=admin)
    c.check("unexposed method: 403", status == 403, (status, body))
    status, body = s.call("model.res.user.nonexistent", [{}])
    c.check("unexposed method without auth: 401 first", status == 401, status)
    status, body = s.call("model.res.user.read", [[admin[1]], ["name"]], session=admin)
    c.check("missing context: an error, not a crash", status == 200 and "error" in body, (status, body))
    basic = "Basic " + base64.b64encode(("admin:" + s.admin_password).encode()).decode()
    status, body = s.call("model.res.user.read", [[admin[1]], ["login"], {}], headers={"Authorization": basic})
    c.check("Basic authorization", status == 200 and body["result"][0]["login"] == "admin", (status, body))
    methods = s.result("system.listMethods", [], session=admin)
    c.check("system.listMethods lists model methods", "model.res.user.read" in methods, methods[:5])
    dbs = s.result("common.db.list", [], path="/")
    c.check("common.db.list", s.db in dbs, dbs)
    status, _ = s.call("common.server.version", [], path="/no_such_db/")
    c.check("unknown database: 404", status == 404, status)
    status, _ = s.call("common.server.version", [], path="/..%2Fetc/")
    c.check("database name with path tricks: 404", status == 404, status)

    other = s.login()
    s.result("common.db.logout", [], session=other)
    status, _ = s.call("model.res.user.read", [[admin[1]], ["name"], {}], session=other)
    c.check("logout: the session no longer works", status == 401, status)
    status, _ = s.call("model.res.user.read", [[admin[1]], ["name"], {}], session=admin)
    c.check("logout of one session leaves the others", status == 200, status)

    # --- rate limit (session.max_attempt = 3) ---
    statuses = [s.call("common.db.login", ["ratelimited", {"password": "x"}, "en"])[0] for _ in range(5)]
    c.check("repeated failed logins end in 429", statuses[-1] == 429 and 401 in statuses, statuses)

    # --- JSON-RPC 2.0 against module methods ---
    status, body, _ = s.post(db, {"jsonrpc": "2.0", "id": "a", "method": "model.res.user.read",
                                  "params": {"ids": [admin[1]], "fields_names": ["login"], "context": {}}},
                             {"Authorization": session_header(*admin)})
    c.check("2.0 call with named params", status == 200 and body.get("id") == "a" and "result" in body, body)
    status, body, _ = s.post(db, [
        {"jsonrpc": "2.0", "id": 1, "method": "model.res.user.read", "params": [[admin[1]], ["login"], {}]},
        {"jsonrpc": "2.0", "id": 2, "method": "model.res.user.nope", "params": [{}]},
        {"jsonrpc": "2.0", "id": 3, "method": "model.res.user.read", "params": [[admin[1]], ["login"]]},
        {"jsonrpc": "2.0", "method": "model.res.user.read", "params": [[admin[1]], ["login"], {}]},
    ], {"Authorization": session_header(*admin)})
    by_id = {r.get("id"): r for r in body} if isinstance(body, list) else {}
    c.check("2.0 batch: one response per non-notification", status == 200 and sorted(by_id) == [1, 2, 3], body)
    c.check("2.0 batch: result", "result" in by_id.get(1, {}), by_id.get(1))
    c.check("2.0 batch: unexposed method -32601", by_id.get(2, {}).get("error", {}).get("code") == -32601,
            by_id.get(2))
    c.check("2.0 batch: missing context -32602", by_id.get(3, {}).get("error", {}).get("code") == -32602,
            by_id.get(3))

    # --- sale: special types, user errors, confirm under concurrency ---
    def new_order(name, lines=True):
        values = {"customer": name, "sale_date": DATE(2026, 12, 1)}
        if lines:
            values["lines"] = [["create", [{"product": "Widget", "quantity": DEC("2"), "unit_price": DEC("10.05")}]]]
        return s.result("model.sale.order.create", [[values], {}], session=admin)[0]

    oid = new_order("Alice")
    order = s.result("model.sale.order.read", [[oid], ["sale_date", "total", "state"], {}], session=admin)[0]
    c.check("a date field comes back as a date object", order["sale_date"] == DATE(2026, 12, 1), order)
    c.check("a numeric total is an exact Decimal", order["total"] == DEC("20.10"), order)
    empty = new_order("Empty", lines=False)
    status, body = s.call("model.sale.order.confirm", [[empty], {}], session=admin)
    c.check("confirm without lines: UserError", status == 200 and body.get("error", [None])[0] == "UserError", body)
    state = s.result("model.sale.order.read", [[empty], ["state"], {}], session=admin)[0]["state"]
    c.check("a failed confirm changes nothing", state == "draft", state)

    orders = [new_order("Concurrent %d" % i) for i in range(6)]
    results = parallel(len(orders), lambda i: s.call("model.sale.order.confirm", [[orders[i]], {}], session=admin))
    ok = [r for r in results if isinstance(r, tuple) and r[0] == 200 and "result" in r[1]]
    c.check("concurrent confirms all succeed (lock_table retry)", len(ok) == len(orders), results)
    numbers = [o["number"] for o in s.result("model.sale.order.read", [orders, ["number"], {}], session=admin)]
    c.check("concurrent confirms get distinct numbers", len(set(numbers)) == len(orders) and all(numbers), numbers)
    confirm_lines = [l for l in s.output().splitlines() if "model.sale.order.confirm" in l and " ok" in l]
    c.check("every confirm went through the lock_table fix and retry",
            len(confirm_lines) >= len(orders) and all("retries=" in l for l in confirm_lines), confirm_lines)

    # concurrent writes of the same record are retried (serialization failure / busy)
    results = parallel(8, lambda i: s.call("model.sale.order.write",
                                           [[oid], {"customer": "writer %d" % i}, {}], session=admin))
    ok = [r for r in results if isinstance(r, tuple) and r[0] == 200 and "result" in r[1]]
    c.check("concurrent writes of one record all succeed", len(ok) == 8, results)
    if s.uri.startswith("postgresql"):
        # Overlap is likely, not certain: a few more rounds until one conflicts.
        for _ in range(10):
            if "SQLSTATE 40001" in s.output():
                break
            results = parallel(16, lambda i: s.call("model.sale.order.write",
                                                    [[oid], {"comment": "round %d" % i}, {}], session=admin))
            c.check("concurrent writes (another round) all succeed",
                    all(isinstance(r, tuple) and r[0] == 200 and "result" in r[1] for r in results), results)
        c.check("PostgreSQL serialization failures (40001) were retried", "SQLSTATE 40001" in s.output(), "")

    # --- sessions cached in one process are dropped when another logs out ---
    # (PostgreSQL: LISTEN/NOTIFY; SQLite: the database's shared change counter)
    other_process = Server(s.atriumd, s.uri, db=s.db).start()
    try:
        shared = s.login()
        for _ in range(3):  # validated once, then served from the cache
            status, _ = s.call("model.res.user.read", [[shared[1]], ["login"], {}], session=shared)
        c.check("a session works in the first process", status == 200, status)
        status, _ = other_process.call("model.res.user.read", [[shared[1]], ["login"], {}], session=shared)
        c.check("the same session works in a second process", status == 200, status)
        other_process.result("common.db.logout", [], session=shared)
        # Asked again until the NOTIFY has reached the first process's listener (within 0.2 s, as before).
        statuses = []
        wait_for(lambda: statuses.append(s.call("model.res.user.read", [[shared[1]], ["login"], {}],
                                                session=shared)[0]) or statuses[-1] == 401, timeout=0.2)
        c.check("a logout in another process ends the session here at once", statuses[-1] == 401, statuses)
        status, _ = s.call("model.res.user.read", [[admin[1]], ["login"], {}], session=admin)
        c.check("... and leaves the user's other sessions working", status == 200, status)
    finally:
        started = time.monotonic()
        c.check("the second process exits 0", other_process.stop() == 0)
        # Its session listener was woken and ended: no fiber left suspended, no wait for the drain's limit.
        c.check("... with its background fibers drained", "still suspended" not in other_process.read_log(),
                other_process.read_log()[-400:])
        c.check("... promptly", time.monotonic() - started < 2.5, time.monotonic() - started)

    # --- access rights ---
    bob_id = s.result("model.res.user.create", [[{"name": "Bob", "login": "bob", "password": "bob-Secret-42"}], {}],
                      session=admin)[0]
    group = s.result("model.res.group.create", [[{"name": "Sales"}], {}], session=admin)[0]
    s.result("model.ir.model.access.create", [[{"model": "sale.order", "group": group, "perm_read": True,
                                                "perm_write": True, "perm_create": True, "perm_delete": True}], {}],
             session=admin)
    bob = s.login("bob", "bob-Secret-42")
    status, body = s.call("model.sale.order.read", [[oid], ["state"], {}], session=bob)
    c.check("access denied: UserError for a user outside the group",
            status == 200 and body.get("error", [None])[0] == "UserError", (status, body))
    s.result("model.res.user.write", [[bob_id], {"groups": [["add", [group]]]}, {}], session=admin)
    status, body = s.call("model.sale.order.read", [[oid], ["state"], {}], session=bob)
    c.check("access granted once in the group (cache invalidated)", status == 200 and "result" in body,
            (status, body))


if __name__ == "__main__":
    sys.exit(main())
