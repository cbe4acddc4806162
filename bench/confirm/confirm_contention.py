#!/usr/bin/env python3
"""Strict sequence under contention (issue 17, point 9): CALLERS concurrent
`model.sale.order.confirm` calls, each confirming one fresh order at a time,
for SECS seconds. Reports confirms/s, failures (by kind), p50/p99 latency.

usage: confirm_contention.py ATRIUMD [--pg DSN] [--callers 8,16,64] [--secs 10]

Every caller count runs against a fresh atriumd and database: SQLite in a
temporary directory, or PostgreSQL at DSN (postgresql://user@host:port/, e.g.
`pg_cluster_ctl run -- sh -c 'exec python3 ... --pg "$ATRIUM_TEST_PG_DSN"'`).
Standard library only; tests/e2e/atrium_server.py starts the server.
"""
import argparse
import http.client
import json
import re
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from atrium_server import Server, session_header  # noqa: E402

DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731


def create_orders(server, session, count):
    ids = []
    batch = 200
    for start in range(0, count, batch):
        values = [{"customer": "Bench %d" % i,
                   "lines": [["create", [{"product": "Widget", "quantity": DEC("1"), "unit_price": DEC("9.95")}]]]}
                  for i in range(start, min(count, start + batch))]
        ids += server.result("model.sale.order.create", [values, {}], session=session)
    return ids


def run(atriumd, dsn, callers, secs, db):
    server = Server(atriumd, dsn, db=db).start()
    try:
        session = server.login()
        # Enough orders that no caller runs out: the 8-caller rate x SECS x 3, at least 2000.
        orders = create_orders(server, session, max(2000, int(secs * 400)))
        queue = iter(orders)
        lock = threading.Lock()
        stop_at = [0.0]
        stats = {"ok": 0, "failed": 0, "kinds": {}, "latencies": []}
        headers = {"Content-Type": "application/json", "Authorization": session_header(*session)}
        barrier = threading.Barrier(callers + 1)

        def caller():
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            barrier.wait()
            while time.time() < stop_at[0]:
                with lock:
                    oid = next(queue, None)
                if oid is None:
                    break
                body = json.dumps({"id": oid, "method": "model.sale.order.confirm", "params": [[oid], {}]})
                began = time.time()
                try:
                    conn.request("POST", "/%s/" % db, body, headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    kind = None
                    if resp.status != 200:
                        kind = "HTTP %d" % resp.status
                    else:
                        reply = json.loads(payload)
                        if "result" not in reply:
                            kind = re.sub(r"request r[0-9.]+", "request rN", str(reply.get("error")))[:80]
                except Exception as error:  # noqa: BLE001 (counted, reported)
                    kind = type(error).__name__
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                elapsed = time.time() - began
                with lock:
                    if kind is None:
                        stats["ok"] += 1
                        stats["latencies"].append(elapsed)
                    else:
                        stats["failed"] += 1
                        stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
            conn.close()

        threads = [threading.Thread(target=caller) for _ in range(callers)]
        for t in threads:
            t.start()
        stop_at[0] = time.time() + secs
        began = time.time()
        barrier.wait()
        for t in threads:
            t.join()
        elapsed = time.time() - began
        lat = sorted(stats["latencies"])
        # The server's own account: retry-loop iterations per confirm (lock fixes + database retries).
        retries = []
        for line in server.output().splitlines():
            if " model.sale.order.confirm " in line and line.startswith("atrium INFO: rpc "):
                retries.append(int(line.rsplit("retries=", 1)[1]) if "retries=" in line else 0)
        pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
        return {"callers": callers, "secs": round(elapsed, 1), "confirms": stats["ok"],
                "confirms_per_s": round(stats["ok"] / elapsed, 1), "failed": stats["failed"],
                "failed_pct": round(100.0 * stats["failed"] / max(1, stats["ok"] + stats["failed"]), 1),
                "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1), "kinds": stats["kinds"],
                "retries": round(sum(retries) / max(1, len(retries)), 2)}
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("atriumd")
    parser.add_argument("--pg", help="PostgreSQL server URI; SQLite when absent")
    parser.add_argument("--callers", default="8,16,64")
    parser.add_argument("--secs", type=float, default=10)
    args = parser.parse_args()
    backend = "postgresql" if args.pg else "sqlite"
    print("| backend | callers | confirms/s | failed | p50 ms | p99 ms | retries/call | failures |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0
    for n in [int(x) for x in args.callers.split(",")]:
        r = run(args.atriumd, args.pg, n, args.secs, "bench_confirm_%d_%d" % (n, os.getpid()))
        worst = max(worst, r["failed"])
        print("| %s | %d | %.1f | %d (%.1f %%) | %.1f | %.1f | %.2f | %s |" % (
            backend, n, r["confirms_per_s"], r["failed"], r["failed_pct"], r["p50_ms"], r["p99_ms"], r["retries"],
            json.dumps(r["kinds"]) if r["kinds"] else "-"), flush=True)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
