#!/usr/bin/env python3
"""The sale example over HTTP with every participant (issue 6): confirming an
order writes the main database, reserves stock in a second PostgreSQL
database ("warehouse") in the confirming transaction, and queues a task
(issue 22) whose own transaction delivers the confirmation mail to the outbox
and writes the order file soon after (atriumd's worker, queue.workers = 1) —
and a confirmation the warehouse refuses leaves none of the four (no task).

usage: sale_fulfilment_e2e.py ATRIUMD POSTGRESQL_SERVER_URI
(the main database is SQLite; the warehouse lives on the given server)
"""
import os
import sqlite3
import subprocess
import sys
from urllib.parse import urlparse

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, Checks, wait_for  # noqa: E402

DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731


def psql(server_uri, database, sql):
    u = urlparse(server_uri)
    out = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-h", u.hostname, "-p", str(u.port), "-U", u.username or "postgres",
                          "-d", database, "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def count_files(path):
    return len(os.listdir(path)) if os.path.isdir(path) else 0


def main():
    atriumd, pg = sys.argv[1], sys.argv[2]
    if not pg.endswith("/"):
        pg += "/"
    psql(pg, "postgres", "CREATE DATABASE warehouse")
    warehouse = pg + "warehouse"
    probe = Server(atriumd)  # only for its temporary directory
    orders_dir = os.path.join(probe.dir, "orders")
    config = ("[sale]\nwarehouse = %s\norders_dir = %s\nmail_to = desk@example.com\n"
              "[tpc]\nparticipants = %s\n") % (warehouse, orders_dir, warehouse)
    s = Server(atriumd, extra_config=config, db="shop").start()
    maildir_new = os.path.join(s.dir, "mail", "new")
    c = Checks()

    def tasks():
        with sqlite3.connect(os.path.join(s.dir, "var", "shop.sqlite"), timeout=30) as db:
            return db.execute("SELECT method, state FROM ir_queue ORDER BY id").fetchall()

    try:
        admin = s.login()

        def order(quantity):
            return s.result("model.sale.order.create", [[{
                "customer": "Alice", "lines": [["create", [
                    {"product": "Widget", "quantity": DEC("2"), "unit_price": DEC("3.50")},
                    {"product": "Gadget", "quantity": DEC(quantity), "unit_price": DEC("1.00")}]]]}], {}],
                session=admin)[0]

        good = order("1")
        s.result("model.sale.order.confirm", [[good], {}], session=admin)
        state, number = [s.result("model.sale.order.read", [[good], ["state", "number"], {}], session=admin)[0][k]
                         for k in ("state", "number")]
        c.check("confirmed in the main database", state == "confirmed" and number, (state, number))
        c.check("stock reserved in the warehouse",
                psql(pg, "warehouse", "SELECT count(*) FROM reservation WHERE order_number = '%s'" % number) == "2")
        order_file = os.path.join(orders_dir, number + ".txt")
        produced = wait_for(lambda: count_files(maildir_new) == 1 and os.path.exists(order_file), timeout=30, step=0.02)
        c.check("the queued task delivers the confirmation mail to the maildir", count_files(maildir_new) == 1,
                count_files(maildir_new))
        c.check("... and writes the order file", produced and os.path.exists(order_file), os.listdir(orders_dir))
        c.check("... once, its task done", wait_for(lambda: tasks() == [("send_confirmation", "done")], timeout=10),
                tasks())

        bad = order("5000")  # the warehouse refuses more than 1000
        status, body = s.call("model.sale.order.confirm", [[bad], {}], session=admin)
        c.check("a refused reservation fails the call", status == 200 and "error" in body, (status, body))
        state = s.result("model.sale.order.read", [[bad], ["state", "number"], {}], session=admin)[0]
        c.check("... and the order stays a draft", state["state"] == "draft" and not state["number"], state)
        c.check("... and nothing more is reserved", psql(pg, "warehouse", "SELECT count(*) FROM reservation") == "2")
        c.check("... and no mail is queued", count_files(maildir_new) == 1, count_files(maildir_new))
        c.check("... and no order file is written", count_files(orders_dir) == 1, os.listdir(orders_dir))
        c.check("... and no task is queued", tasks() == [("send_confirmation", "done")], tasks())
        c.check("no prepared transaction is left in the warehouse",
                psql(pg, "warehouse", "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()") == "0")
    except Exception as error:
        c.check("no unexpected exception", False, repr(error))
    finally:
        rc = s.stop()
        c.check("atriumd exits 0 on SIGTERM", rc == 0, rc)
        if c.failures:
            print(s.output()[-6000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
