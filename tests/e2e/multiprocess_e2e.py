#!/usr/bin/env python3
"""Several atriumd processes on one database (issue 20), over real HTTP.

1. Two atriumd processes A and B on the same database (PostgreSQL: the same
   database of the test cluster; SQLite: the same file). Bob warms B's caches
   (session, access rights, pool), then the admin changes something in A, and
   Bob's VERY NEXT call in B must see it: removed from his group -> refused;
   put back -> allowed; the group's read right revoked on its access row ->
   refused; his session logged out in A -> 401 in B.
2. web.processes = 2: both children answer (their pids in X-Atrium-Process),
   kill -9 of one child -> the supervisor restarts it while calls keep
   succeeding, SIGTERM -> every child drains and the supervisor exits 0.

usage: multiprocess_e2e.py ATRIUMD [DATABASE_URI]
"""
import os
import signal
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Checks, Server, wait_for  # noqa: E402

DATE = lambda y, m, d: {"__class__": "date", "year": y, "month": m, "day": d}  # noqa: E731


def denied(status, body):
    return status == 200 and isinstance(body, dict) and (body.get("error") or [None])[0] == "UserError"


def allowed(status, body):
    return status == 200 and isinstance(body, dict) and "result" in body


def invalidation_checks(a, b, c):
    admin = a.login()
    a.result("model.sale.order.create", [[{"customer": "Alice", "sale_date": DATE(2026, 12, 1)}], {}],
             session=admin)  # before any access row: the model is open to everybody until then
    group = a.result("model.res.group.create", [[{"name": "Sales"}], {}], session=admin)[0]
    access = a.result("model.ir.model.access.create", [[{"model": "sale.order", "group": group, "perm_read": True,
                                                         "perm_write": True, "perm_create": True,
                                                         "perm_delete": True}], {}], session=admin)[0]
    bob_id = a.result("model.res.user.create", [[{"name": "Bob", "login": "bob", "password": "bob-Secret-42"}], {}],
                      session=admin)[0]
    a.result("model.res.user.write", [[bob_id], {"groups": [["add", [group]]]}, {}], session=admin)
    search = ("model.sale.order.search", [[], 0, None, None, {}])

    bob = b.login("bob", "bob-Secret-42")
    for _ in range(3):  # the session, the pool and Bob's rights are now cached in B
        status, body = b.call(*search, session=bob)
    c.check("B: Bob reads orders (his group may)", allowed(status, body), (status, body))

    a.result("model.res.user.write", [[bob_id], {"groups": [["remove", [group]]]}, {}], session=admin)
    status, body = b.call(*search, session=bob)
    c.check("membership removed in A: Bob's very next call in B is refused", denied(status, body), (status, body))

    a.result("model.res.user.write", [[bob_id], {"groups": [["add", [group]]]}, {}], session=admin)
    status, body = b.call(*search, session=bob)
    c.check("membership given back in A: Bob's very next call in B is allowed", allowed(status, body),
            (status, body))
    for _ in range(2):
        b.call(*search, session=bob)

    a.result("model.ir.model.access.write", [[access], {"perm_read": False}, {}], session=admin)
    status, body = b.call(*search, session=bob)
    c.check("read right revoked in A: Bob's very next call in B is refused", denied(status, body), (status, body))
    a.result("model.ir.model.access.write", [[access], {"perm_read": True}, {}], session=admin)
    status, body = b.call(*search, session=bob)
    c.check("read right given back in A: the very next call in B is allowed", allowed(status, body),
            (status, body))

    # A's own view: the same changes seen by the process that made them.
    status, body = a.call(*search, session=bob)
    c.check("A: Bob reads orders too", allowed(status, body), (status, body))

    # A logout in A: the session B has cached is refused on B's very next call.
    for _ in range(3):
        status, _ = b.call(*search, session=bob)
    a.result("common.db.logout", [], session=bob)
    status, body = b.call(*search, session=bob)
    c.check("logout in A: the session is refused on B's very next call (401)", status == 401, (status, body))
    status, body = b.call("model.res.user.read", [[admin[1]], ["login"], {}], session=admin)
    c.check("... the admin's session still works in B", allowed(status, body), (status, body))


def notify_alone_checks(a, b, c):
    """PostgreSQL with the host counters off (ATRIUM_PG_HOST_COUNTERS=0), as
    between two hosts: the NOTIFY alone carries the change, within moments."""
    admin = a.login()
    group = a.result("model.res.group.search", [[["name", "=", "Sales"]], 0, None, None, {}], session=admin)[0]
    bob_id = a.result("model.res.user.search", [[["login", "=", "bob"]], 0, None, None, {}], session=admin)[0]
    search = ("model.sale.order.search", [[], 0, None, None, {}])
    bob = b.login("bob", "bob-Secret-42")
    for _ in range(3):
        status, body = b.call(*search, session=bob)
    c.check("NOTIFY alone: B serves Bob from its caches", allowed(status, body), (status, body))
    a.result("model.res.user.write", [[bob_id], {"groups": [["remove", [group]]]}, {}], session=admin)
    started = time.monotonic()
    refused = wait_for(lambda: denied(*b.call(*search, session=bob)), timeout=2, step=0.001)
    c.check("NOTIFY alone: the removed membership is refused in B within 2 s", refused,
            time.monotonic() - started)
    shared = b.login("bob", "bob-Secret-42")
    b.call("model.res.user.read", [[bob_id], ["login"], {}], session=shared)
    a.result("common.db.logout", [], session=shared)
    ended = wait_for(lambda: b.call("model.res.user.read", [[bob_id], ["login"], {}], session=shared)[0] == 401,
                     timeout=2, step=0.001)
    c.check("NOTIFY alone: a logout in A ends the session in B within 2 s", ended, "")


def pid_of(server, path="/"):
    resp, _ = server.post(path, {"id": 1, "method": "common.server.version", "params": []}, raw=True)
    return resp.status, resp.getheader("X-Atrium-Process")


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def processes_checks(s, c):
    supervisor = s.proc.pid
    wait_for(lambda: len(children_of(supervisor)) == 2, timeout=60)
    children = children_of(supervisor)
    c.check("web.processes = 2: the supervisor has two children", len(children) == 2, children)
    seen = set()
    for _ in range(200):  # new connections: the kernel spreads them over both sockets
        status, pid = pid_of(s)
        if status == 200 and pid:
            seen.add(int(pid))
        if len(seen) == 2:
            break
    c.check("both children answer calls (distinct pids in X-Atrium-Process)", seen == set(children),
            (seen, children))
    admin = s.login()
    status, _ = s.call("model.res.user.read", [[admin[1]], ["login"], {}], session=admin)
    c.check("a session works across the children", status == 200, status)

    victim = children[0]
    os.kill(victim, signal.SIGKILL)
    statuses = []
    for _ in range(40):
        status, _ = s.call("model.res.user.read", [[admin[1]], ["login"], {}], session=admin)
        statuses.append(status)
    c.check("kill -9 of a child: calls keep succeeding", all(st == 200 for st in statuses), statuses)
    wait_for(lambda: len(children_of(supervisor)) == 2 and victim not in children_of(supervisor), timeout=30)
    now = children_of(supervisor)
    c.check("the supervisor restarted the dead child", len(now) == 2 and victim not in now, now)
    new_child = [p for p in now if p not in children]
    seen = set()
    for _ in range(200):
        status, pid = pid_of(s)
        if status == 200 and pid:
            seen.add(int(pid))
        if new_child and new_child[0] in seen:
            break
    c.check("the restarted child answers", bool(new_child) and new_child[0] in seen, (seen, new_child))
    log = s.output()
    c.check("the supervisor logged the death and the restart",
            "killed by signal 9; restarting" in log and "started, pid %d" % new_child[0] in log if new_child else False,
            log[-1500:])
    c.check("one start-up recovery pass ran, in one child, not again at the restart",
            log.count("atriumd: recovery:") == 1, log.count("atriumd: recovery:"))
    s.children = now


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    c = Checks()

    a = Server(atriumd, uri, db="multi")
    a.start()
    b = Server(atriumd, uri or a.uri, db="multi")
    try:
        b.start()
        invalidation_checks(a, b, c)
    except Exception as error:
        c.check("no unexpected exception (two processes)", False, repr(error))
    finally:
        c.check("A exits 0", a.stop() == 0)
        c.check("B exits 0", b.stop() == 0)
        if c.failures:
            print(a.output()[-3000:])
            print(b.output()[-3000:])

    s = Server(atriumd, uri, db="multi")
    if uri:  # PostgreSQL: the NOTIFY alone, as between hosts
        os.environ["ATRIUM_PG_HOST_COUNTERS"] = "0"
        a = Server(atriumd, uri, db="multi")
        b = Server(atriumd, uri, db="multi")
        try:
            a.start()
            b.start()
            notify_alone_checks(a, b, c)
        except Exception as error:
            c.check("no unexpected exception (NOTIFY alone)", False, repr(error))
        finally:
            del os.environ["ATRIUM_PG_HOST_COUNTERS"]
            c.check("A exits 0 (NOTIFY alone)", a.stop() == 0)
            c.check("B exits 0 (NOTIFY alone)", b.stop() == 0)

    os.environ["ATRIUM_WEB__PROCESSES"] = "2"
    try:
        s.start()
    finally:
        del os.environ["ATRIUM_WEB__PROCESSES"]
    s.children = []
    try:
        processes_checks(s, c)
    except Exception as error:
        c.check("no unexpected exception (web.processes)", False, repr(error))
    finally:
        started = time.monotonic()
        rc = s.stop()
        c.check("SIGTERM: the supervisor exits 0 once its children drained", rc == 0, rc)
        c.check("... promptly", time.monotonic() - started < 20, time.monotonic() - started)
        c.check("... and no child is left", all(not os.path.exists("/proc/%d" % p) or
                                                 "zombie" in open("/proc/%d/status" % p).read().lower()
                                                 for p in s.children), s.children)
        log = s.read_log()
        c.check("... each child drained and stopped", log.count("atriumd: stopped") >= 2, log[-1500:])
        if c.failures:
            print(log[-5000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
