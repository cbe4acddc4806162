#!/usr/bin/env python3
"""The real, unmodified Tryton 6.0 desktop client (/usr/bin/tryton) against
atriumd, as a user at the keyboard: under its own Xvfb, driven with xdotool,
it logs in through the password dialog, opens Sales > Sales from the menu,
creates an order with two lines in the inline list, saves (Ctrl+S) and
presses Confirm. Then the database must hold the order confirmed, numbered,
with its two lines, and no call of the session may have got a 401/403. The bus
(issue 22): the client runs on a private D-Bus session where
fake_notifications.py stands in for the desktop's notification daemon; after
Confirm, the client's long poll must have got the sale's message (its log
shows a poll whose last message is that message's id, and no bus error) and
the client must have sent the desktop notification "Order SO… confirmed".

Every step waits on the client's own -l DEBUG log (each call it makes and
each answer), with deadlines; on failure the screenshots, client.log and
atriumd.log stay in the kept temporary directory.

usage: tryton_gui_e2e.py ATRIUMD [DATABASE_URI] [--screenshot PNG]
"""
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, Checks, temporary_directory  # noqa: E402
from x_session import Xvfb, TrytonClient, wait_until  # noqa: E402

CUSTOMER = "Gui Customer"
LINES = [("Blue widget", "2", "10.50"), ("Red widget", "3", "4.25")]
# Generous for an ASan build on a busy machine; the whole run stays far below.
STEP = 45
# What a keystroke needs to take effect when no call to the server follows it.
SETTLE = 0.8


def query(server, sql):
    """Rows of sql on the server's own database (SQLite file or PostgreSQL), as text."""
    if server.uri.startswith("sqlite://"):
        path = os.path.join(server.uri[len("sqlite://"):], server.db + ".sqlite")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return [tuple(None if v is None else str(v) for v in row) for row in conn.execute(sql)]
    out = subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                          "-d", server.uri.rstrip("/") + "/" + server.db, "-c", sql],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [tuple(None if v == "" else v for v in line.split("\t")) for line in out.splitlines() if line]


def drive(server, client, shots):
    """The user's session; shots(name) keeps a screenshot."""
    at = client.wait_log("common.db.login(", STEP)
    # The client logs a call before making it: the password dialog comes once
    # atriumd has refused the password-less login (its log says so within 50 ms).
    if not wait_until(lambda: re.search(r"common\.db\.login .*LoginException", server.read_log()), STEP):
        raise RuntimeError("atriumd did not answer the password-less login")
    client.focus("Tryton", STEP)  # drawn in the main window, once mapped
    time.sleep(2)
    client.type(client.password)
    client.key("Return")
    at = client.wait_log("res.user.get_preferences(", STEP, at)
    at = client.wait_log("model.ir.ui.menu.read(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    shots("logged-in")
    # The menu tree has the keyboard: its interactive search selects "Sales",
    # Return expands it, Down then Return opens Sales > Sales.
    client.focus("Tryton", STEP)
    client.type("Sales")
    client.key("Return")
    at = client.wait_log("get_keyword(", STEP, at)
    at = client.wait_log("model.ir.ui.menu.read(", STEP, at)  # the folder's children, once expanded
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    time.sleep(0.5)
    client.key("Escape", "Down", "Return")
    at = client.wait_log("model.sale.order.search(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    shots("sales-list")
    client.key("ctrl+n")
    at = client.wait_log("model.sale.order.default_get(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    time.sleep(1)
    shots("new-order")
    client.type(CUSTOMER)
    # "_Lines" is the mnemonic of the lines' editable list: Alt+L gives it the
    # keyboard, F3 starts a new line, Tab goes from cell to cell, Return on
    # the last line starts the next one.
    client.key("alt+l")
    client.key("F3")
    for n, (product, quantity, price) in enumerate(LINES):
        at = client.wait_log("model.sale.order.line.default_get(", STEP, at)
        client.wait_log("DEBUG:tryton.rpc:", STEP, at)
        time.sleep(SETTLE)
        client.type(product)
        # The list moves to the next cell from an idle callback, which no log
        # shows: typing right after Tab would still go to the cell left.
        for value in (quantity, price):
            client.key("Tab")
            time.sleep(SETTLE)
            client.type(value)
        client.key("Return" if n + 1 < len(LINES) else "Tab")
    time.sleep(SETTLE)
    shots("lines")
    client.key("ctrl+s")
    at = client.wait_log("model.sale.order.create(", STEP, at)
    at = client.wait_log("model.sale.order.read(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    time.sleep(1)
    shots("saved")
    # Alt+C is the mnemonic of both "_Customer:" and "_Confirm": GTK cycles
    # the keyboard focus between them (customer first, in the form's order),
    # so the second Alt+C puts it on the button, and space presses it.
    client.key("alt+c")
    time.sleep(0.3)
    client.key("alt+c")
    time.sleep(0.3)
    client.key("space")
    at = client.wait_log("model.sale.order.confirm(", STEP, at)
    at = client.wait_log("model.sale.order.read(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    at = client.wait_log("model.sale.order.line.read(", STEP, at)
    client.wait_log("DEBUG:tryton.rpc:", STEP, at)
    time.sleep(1)
    return at


def check_database(server, c):
    orders = query(server, 'SELECT "id", "number", "state", "customer", "total" FROM "sale_order"')
    c.check("the database holds one sale order", len(orders) == 1, orders)
    if len(orders) != 1:
        return
    order_id, number, state, customer, total = orders[0]
    c.check("the order is confirmed", state == "confirmed", orders)
    c.check("the order is numbered (SO…)", bool(number) and number.startswith("SO"), orders)
    c.check("the order has the customer typed in the form", customer == CUSTOMER, orders)
    lines = query(server, 'SELECT "product", "quantity", "unit_price", "amount" FROM "sale_order_line" '
                          'WHERE "order" = %s ORDER BY "id"' % int(order_id))
    got = [(p, Decimal(q), Decimal(u)) for p, q, u, _ in lines]
    want = [(p, Decimal(q), Decimal(u)) for p, q, u in LINES]
    c.check("the order has the two lines typed in the list", got == want, lines)
    expected_total = sum(Decimal(q) * Decimal(u) for _, q, u in LINES)
    c.check("the total is the lines' sum", Decimal(total) == expected_total, (total, expected_total))


def check_bus(server, client, c):
    """After Confirm: the sale's bus message reached the client and became a desktop notification."""
    rows = wait_until(lambda: query(server, "SELECT id, channel FROM ir_bus_message ORDER BY id"), STEP)
    c.check("Confirm sent one bus message, to the confirming user", rows and len(rows) == 1
            and rows[0][1] == "user:1", rows)
    if not rows:
        return
    message_id = rows[0][0]
    polled = wait_until(lambda: re.search(r"poll channels \['client:[0-9a-f-]+'\] with last message %s\b" % message_id,
                                          client.read_log()), STEP)
    c.check("the client's next poll names the delivered message (last message %s)" % message_id, polled,
            client.read_log()[-3000:])
    number = query(server, 'SELECT "number" FROM "sale_order"')[0][0]
    shown = wait_until(lambda: [n for n in client.notified() if n["summary"] == "Order %s confirmed" % number], STEP)
    c.check("the client sent the desktop notification \"Order %s confirmed\"" % number, shown, client.notified())
    c.check("the client's bus logged no error", "connecting to the bus" not in client.read_log()
            and "Bus not supported" not in client.read_log())


def run(server, c, directory, keep_png):
    xvfb = Xvfb()
    client = None
    shots_taken = []

    def shots(name):
        shots_taken.append(client.screenshot(os.path.join(directory, "%02d-%s.png" % (len(shots_taken), name))))

    try:
        xvfb.start()
        client = TrytonClient(xvfb.display, directory, server.port, server.db,
                              notifications=os.path.join(directory, "notifications.jsonl"))
        client.password = server.admin_password
        client.start()
        try:
            drive(server, client, shots)
            c.check("the client went through the whole session", True)
            check_bus(server, client, c)
            shots("confirmed")
            if keep_png:
                c.check("the confirmed order's window kept as " + keep_png,
                        client.screenshot(keep_png, window="Tryton") == keep_png)
        except Exception as error:
            shots("failure")
            c.check("the client went through the whole session", False, error)
    finally:
        if client:
            client.stop()
        xvfb.stop()
    log = client.read_log()
    errors = [line for line in log.splitlines() if re.match(r"(ERROR|CRITICAL)", line) or "Fault" in line]
    c.check("the client logged no Fault and no error dialog", not errors, "\n".join(errors[:30]))
    check_database(server, c)
    if c.failures:
        print("client log: " + client.log_path)
        for s in shots_taken:
            print("screenshot: " + s)


def main():
    args = sys.argv[1:]
    keep_png = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        keep_png = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    atriumd = args[0]
    uri = args[1] if len(args) > 1 else None
    server = Server(atriumd, uri, db="tryton_gui")
    directory = temporary_directory("atrium-gui-")
    c = Checks()
    server.start()
    try:
        run(server, c, directory, keep_png)
    except Exception as error:
        c.check("no unexpected exception", False, repr(error))
    finally:
        rc = server.stop()
        c.check("SIGTERM: atriumd exits 0", rc == 0, rc)
    log = server.read_log()
    bad = [line for line in log.splitlines() if re.search(r"\bHTTP 40[13]\b|Forbidden", line)]
    c.check("no call got 401 or 403 during the session", not bad, "\n".join(bad[:20]))
    c.check("atriumd logged the session (its confirm call answered ok)",
            re.search(r"rpc \S+ model\.sale\.order\.confirm .* ok\b", log), log[-2000:])
    if c.failures:
        print(log[-6000:])
        print("kept: " + directory + " and " + server.dir)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
