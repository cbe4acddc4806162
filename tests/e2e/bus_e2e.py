#!/usr/bin/env python3
"""End-to-end checks of the bus (issue 22), POST /<db>/bus over real HTTP, with
atriumd_test's test.bus_notify(channel, message[, fail]) as "another call":

* credentials as a call's: none, forged or wrong ⇒ 401; a bad body ⇒ 400;
* a client parked with last_message null is woken by another call's commit
  and gets trytond's shape {"message": {..., "message_id": id}, "channel": ...};
  a call that rolls back after sending wakes nobody with a message;
* last_message: the next message after it, in order; a timeout answers
  {"message": null, "channel": null} (bus.long_polling_timeout);
* the attacker's side: Mallory subscribing to user:1 (Admin's) and to Admin's
  client channel she guessed wrong gets nothing of Admin's, only her own;
* 1,000 clients parked at once, then one commit: all 1,000 answered with it;
* clients that disconnect while parked are let go; a commit of another
  atriumd on the same database reaches a client parked here; ir.bus.message
  is not readable over RPC;
* a real sale confirmation notifies the confirming user ("Order SO0001 confirmed");
* SIGTERM while a client is parked: it is answered (empty) at once and atriumd exits 0;
* bus.enabled = false: 501 (the Tryton client stops polling).

usage: bus_e2e.py ATRIUMD_TEST [DATABASE_URI]
"""
import asyncio
import json
import os
import resource
import sys
import threading
import time
import urllib.request

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Checks, Server, session_header, wait_for  # noqa: E402

MANY = 1000
TIMEOUT = 3  # bus.long_polling_timeout of the server under test


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def metric(s, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.port, timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


class Poll(threading.Thread):
    """One bus request in a thread: .result = (status, body), .seconds."""

    def __init__(self, s, session, channels=None, last=None, headers=None):
        super().__init__(daemon=True)
        self.s, self.session, self.last = s, session, last
        self.channels = ["client:c1"] if channels is None else channels
        self.headers = headers
        self.result, self.seconds = None, None

    def run(self):
        started = time.time()
        headers = dict(self.headers or {})
        if self.session:
            headers["Authorization"] = session_header(*self.session)
        status, body, _ = self.s.post("/%s/bus" % self.s.db, {"last_message": self.last, "channels": self.channels},
                                      headers)
        self.result, self.seconds = (status, body), time.time() - started


def parked_now(s):
    return metric(s, "atrium_bus_parked_clients") or 0


def send(s, session, channel, message, fail=False):
    return s.call("test.bus_notify", [channel, message, fail], session=session)


async def many_parked(s, session, n, sender):
    """n connections each park a bus request; once all are parked, sender() runs; returns the answers."""
    body = json.dumps({"last_message": None, "channels": ["client:many"]}).encode()
    request = (b"POST /%s/bus HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Authorization: %s\r\nContent-Length: %d\r\n\r\n" % (s.db.encode(), session_header(*session).encode(),
                                                                     len(body))) + body

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await reader.readexactly(length)
        writer.close()
        return int(head.split()[1]), json.loads(payload) if payload else None

    tasks = []
    for start in range(0, n, 100):  # open in batches: the listen backlog
        tasks += [asyncio.ensure_future(one()) for _ in range(min(100, n - start))]
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    parked = await loop.run_in_executor(None, lambda: wait_for(lambda: parked_now(s) >= n, timeout=60, step=0.2))
    sent_at = time.time()
    sent = await loop.run_in_executor(None, sender)
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    return parked, sent, answers, time.time() - sent_at


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    raise_fd_limit(MANY * 2 + 1000)  # this process's sockets, and atriumd's (inherited)
    os.environ.update({"ATRIUM_WEB__MAX_CONNECTIONS": str(MANY + 200), "ATRIUM_WEB__MAX_CONNECTIONS_PER_NETWORK": "0",
                       "ATRIUM_BUS__LONG_POLLING_TIMEOUT": str(TIMEOUT)})
    c = Checks()
    s = Server(atriumd, uri, db="bus_e2e").start()
    try:
        admin = s.login()
        uid = admin[1]
        mallory_id = s.result("model.res.user.create",
                              [[{"name": "Mallory", "login": "mallory", "password": "mallory-Secret-42"}], {}],
                              session=admin)[0]
        mallory = s.login("mallory", "mallory-Secret-42")

        # --- credentials and body ---
        for name, headers in [("no credentials", {}),
                              ("a forged session", {"Authorization": session_header("admin", uid, "0" * 64)}),
                              ("another user's id with Mallory's key",
                               {"Authorization": session_header("admin", uid, mallory[2])}),
                              ("a wrong Basic password", {"Authorization": "Basic YWRtaW46bm9wZQ=="})]:
            status, body, _ = s.post("/%s/bus" % s.db, {"last_message": None, "channels": ["client:x"]}, headers)
            c.check("%s: 401" % name, status == 401, (status, body))
        status, body, _ = s.post("/%s/bus" % s.db, b"[1, 2", {"Authorization": session_header(*admin)})
        c.check("a body that is not a JSON object: 400", status == 400, (status, body))
        status, body, _ = s.post("/nosuchdb/bus", {"last_message": None, "channels": []},
                                 {"Authorization": session_header(*admin)})
        c.check("an unknown database: 404", status == 404, (status, body))

        # --- parked, woken by another call's commit; a rollback wakes nobody with a message ---
        poll = Poll(s, admin)
        poll.start()
        c.check("the client is parked", wait_for(lambda: parked_now(s) >= 1, timeout=10), parked_now(s))
        status, body = send(s, admin, "user:%d" % uid, {"type": "notification", "title": "lost"}, fail=True)
        c.check("a call that fails after sending answers its error", status == 200 and "error" in body, body)
        time.sleep(0.5)
        c.check("the rolled-back message wakes nobody: still parked", poll.is_alive() and parked_now(s) >= 1,
                poll.result)
        sent_at = time.time()
        committed = s.result("test.bus_notify", ["user:%d" % uid, {"type": "notification", "title": "hello"}],
                             session=admin)
        poll.join(10)
        latency = time.time() - sent_at
        status, body = poll.result or (None, None)
        c.check("the commit wakes it with trytond's shape",
                status == 200 and body == {"channel": "user:%d" % uid,
                                           "message": {"type": "notification", "title": "hello",
                                                       "message_id": committed}}, poll.result)
        c.check("delivered within 1 s of the call's answer", latency < 1, latency)
        print("commit to delivery (one client, incl. the sending call): %.1f ms" % (latency * 1000))

        # --- last_message: the next one after it, in order; then the timeout answers null ---
        second = s.result("test.bus_notify", ["client:c1", {"n": 2}], session=admin)
        third = s.result("test.bus_notify", ["client:c1", {"n": 3}], session=admin)
        seen = []
        last = committed
        for _ in range(2):
            p = Poll(s, admin, last=last)
            p.run()
            message = (p.result[1] or {}).get("message") or {}
            seen.append(message.get("message_id"))
            last = message.get("message_id")
        c.check("last_message: the messages after it, one per poll, in order", seen == [second, third], seen)
        p = Poll(s, admin, last=third)
        p.run()
        c.check("nothing after the last: {message: null, channel: null} after long_polling_timeout",
                p.result == (200, {"message": None, "channel": None}) and TIMEOUT - 0.5 <= p.seconds < TIMEOUT + 3,
                (p.result, p.seconds))
        p = Poll(s, admin, channels=["client:other"], last=committed)
        p.run()
        c.check("a client:* channel not asked for is not delivered (client:c1's)",
                p.result[1] == {"message": None, "channel": None}, p.result)

        # --- the attacker's side ---
        attack = Poll(s, mallory, channels=["user:%d" % uid, "client:guess"], last=0)
        attack.start()
        c.check("Mallory is parked", wait_for(lambda: parked_now(s) >= 1, timeout=10))
        victim_only = s.result("test.bus_notify", ["user:%d" % uid, {"title": "for admin only"}], session=admin)
        time.sleep(0.5)
        c.check("Mallory asking for user:%d (Admin's) with last_message 0 gets none of Admin's messages" % uid,
                attack.is_alive() or attack.result[1].get("message") is None, attack.result)
        own = s.result("test.bus_notify", ["user:%d" % mallory_id, {"title": "for mallory"}], session=admin)
        attack.join(TIMEOUT + 5)
        c.check("Mallory gets her own user:%d message" % mallory_id,
                attack.result and attack.result[1] == {"channel": "user:%d" % mallory_id,
                                                       "message": {"title": "for mallory", "message_id": own}},
                attack.result)
        del victim_only

        # --- 1,000 parked clients, one commit ---
        def sender():
            return s.result("test.bus_notify", ["client:many", {"title": "to all"}], session=admin)

        parked, sent, answers, seconds = asyncio.run(many_parked(s, admin, MANY, sender))
        delivered = sum(1 for a in answers if not isinstance(a, Exception) and a[0] == 200
                        and (a[1] or {}).get("message", {}) == {"title": "to all", "message_id": sent})
        errors = [a for a in answers if isinstance(a, Exception)][:3]
        c.check("%d clients parked at once" % MANY, parked, parked_now(s))
        c.check("one commit: all %d answered with it" % MANY, delivered == MANY, (delivered, errors))
        print("%d parked clients answered %.2f s after the sending call started" % (delivered, seconds))

        # --- clients that leave while parked are let go at once ---
        async def leave(n):
            conns = []
            for _ in range(n):
                reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
                body = json.dumps({"last_message": None, "channels": []}).encode()
                writer.write(b"POST /%s/bus HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Authorization: %s\r\nContent-Length: %d\r\n\r\n"
                             % (s.db.encode(), session_header(*admin).encode(), len(body)) + body)
                await writer.drain()
                conns.append(writer)
            loop = asyncio.get_running_loop()
            parked = await loop.run_in_executor(None, lambda: wait_for(lambda: parked_now(s) >= n, timeout=20))
            for writer in conns:
                writer.close()
            gone = await loop.run_in_executor(None, lambda: wait_for(lambda: parked_now(s) == 0, timeout=5))
            return parked, gone

        parked, gone = asyncio.run(leave(50))
        c.check("50 clients parked, then they disconnect: none left parked within 5 s", parked and gone,
                parked_now(s))

        # --- another process on the same database: its commits reach this one's clients ---
        other = Server(atriumd, s.uri, db=s.db).start()
        try:
            p = Poll(s, admin)
            p.start()
            wait_for(lambda: parked_now(s) >= 1, timeout=10)
            sent_at = time.time()
            from_other = other.result("test.bus_notify", ["user:%d" % uid, {"title": "from the other process"}],
                                      session=admin)
            p.join(10)
            c.check("a message committed by another atriumd on the database reaches a client parked here",
                    p.result and (p.result[1].get("message") or {}).get("message_id") == from_other, p.result)
            print("another process's commit to delivery: %.1f ms" % ((time.time() - sent_at) * 1000))
        finally:
            other.stop()

        # --- the messages' table is root's ---
        status, body = s.call("model.ir.bus.message.search_read", [[], 0, None, None, ["channel"], {}],
                              session=admin)
        c.check("ir.bus.message is not readable over RPC, even by admin", status != 200 or "error" in body,
                (status, body))

        # --- the sale module's notification ---
        order = s.result("model.sale.order.create", [[{"customer": "Alice", "lines": [["create", [
            {"product": "Widget", "quantity": {"__class__": "Decimal", "decimal": "2"},
             "unit_price": {"__class__": "Decimal", "decimal": "9.95"}}]]]}], {}], session=admin)
        p = Poll(s, admin, last=from_other)
        p.start()
        wait_for(lambda: parked_now(s) >= 1, timeout=10)
        s.result("model.sale.order.confirm", [order, {}], session=admin)
        p.join(10)
        message = (p.result or (0, {}))[1].get("message") or {}
        c.check("confirming a sale notifies the confirming user: Order SO0001 confirmed",
                p.result and p.result[1].get("channel") == "user:%d" % uid and message.get("type") == "notification"
                and message.get("title") == "Order SO0001 confirmed", p.result)

        delivered_total = metric(s, "atrium_bus_messages_delivered_total")
        c.check("/metrics counts the deliveries", delivered_total is not None and delivered_total >= MANY + 5,
                delivered_total)

        # --- draining wakes the parked ---
        p = Poll(s, admin)
        p.start()
        wait_for(lambda: parked_now(s) >= 1, timeout=10)
        stopped_at = time.time()
        code = s.stop()
        p.join(10)
        c.check("SIGTERM: the parked client is answered empty at once",
                p.result == (200, {"message": None, "channel": None}) and time.time() - stopped_at < 5,
                (p.result, time.time() - stopped_at))
        c.check("atriumd exits 0", code == 0, code)
        log = s.read_log()
        c.check("bus answers are logged as calls", " bus db=bus_e2e user=%d " % uid in log)
        c.check("no sanitizer report", "AddressSanitizer" not in log and "runtime error:" not in log)
    finally:
        s.stop()

    # --- bus.enabled = false: 501, which makes the Tryton client stop polling ---
    os.environ["ATRIUM_BUS__ENABLED"] = "false"
    off = Server(atriumd, uri, db="bus_e2e_off").start()
    try:
        status, _, _ = off.post("/%s/bus" % off.db, {"last_message": None, "channels": []},
                                {"Authorization": session_header(*off.login())})
        c.check("bus.enabled = false: 501", status == 501, status)
    finally:
        off.stop()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
