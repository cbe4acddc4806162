#!/usr/bin/env python3
"""The sale's confirmation documents through the task queue (issue 22):
CALLERS concurrent `model.sale.order.confirm` calls confirm N fresh orders;
reports confirms/s and p50/p99 latency, how many order files and mails exist
when the last confirm answers, and how long after it the last ones appear
(atriumd's queue.workers = WORKERS fibers produce them; 0: none, not waited for).
Run it with an atriumd built before the queue (inline documents) for the A/B.

usage: confirm_documents.py ATRIUMD WORKERS [POSTGRESQL_SERVER_URI]
Standard library only; tests/e2e/atrium_server.py starts the server.
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from atrium_server import Server, session_header, wait_for  # noqa: E402

DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731
N, CALLERS = 400, 8


def files(path):
    return len(os.listdir(path)) if os.path.isdir(path) else 0


def main():
    atriumd, workers = sys.argv[1], int(sys.argv[2])
    dsn = sys.argv[3] if len(sys.argv) > 3 else None
    config = "[sale]\nmail_to = desk@example.com\n[queue]\nworkers = %d\n" % workers
    s = Server(atriumd, dsn, extra_config=config, db="confirm_documents%d" % workers).start()
    try:
        session = s.login()
        ids = []
        for start in range(0, N, 200):
            values = [{"customer": "Bench %d" % i, "lines": [["create", [
                {"product": "Widget", "quantity": DEC("1"), "unit_price": DEC("9.95")}]]]}
                for i in range(start, start + 200)]
            ids += s.result("model.sale.order.create", [values, {}], session=session)
        pending, lock, latencies = iter(ids), threading.Lock(), []
        headers = {"Content-Type": "application/json", "Authorization": session_header(*session)}

        def caller():
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
            while True:
                with lock:
                    oid = next(pending, None)
                if oid is None:
                    return
                started = time.time()
                conn.request("POST", "/%s/" % s.db, json.dumps(
                    {"id": oid, "method": "model.sale.order.confirm", "params": [[oid], {}]}), headers)
                body = json.loads(conn.getresponse().read())
                assert "result" in body, body
                with lock:
                    latencies.append(time.time() - started)

        began = time.time()
        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        confirmed = time.time()
        orders, mails = os.path.join(s.dir, "var", "orders"), os.path.join(s.dir, "mail", "new")
        at_answer = (files(orders), files(mails))
        done = workers > 0 and wait_for(lambda: files(orders) == N and files(mails) == N, timeout=300, step=0.05)
        produced = time.time()
        latencies.sort()
        print("workers=%d backend=%s: %d confirms by %d callers in %.2f s = %.0f/s, p50 %.1f ms, p99 %.1f ms; "
              "files and mails when the last confirm answered: %s; all %d of each %s %.2f s later"
              % (workers, "postgresql" if dsn else "sqlite", N, CALLERS, confirmed - began, N / (confirmed - began),
                 latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000, at_answer, N,
                 "produced" if done else "NOT produced", produced - confirmed))
    finally:
        s.stop()


if __name__ == "__main__":
    main()
