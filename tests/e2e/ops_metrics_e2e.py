#!/usr/bin/env python3
"""End-to-end checks of atriumd's observability (issue 20) over real HTTP:
GET /metrics parsed by the Prometheus client's own text parser (counters move
with committed, failed, retried calls and an oversized body; histograms are
consistent; RSS > 0), /metrics refused to a non-loopback peer, a separate
web.metrics_listen, /livez and /readyz (503 while draining), JSON log lines
and the slow-call line, and sd_notify READY=1 / WATCHDOG=1 / STOPPING=1 on a NOTIFY_SOCKET
the test owns.

usage: ops_metrics_e2e.py ATRIUMD_TEST [DATABASE_URI]   (Debian's python3: prometheus_client)
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Checks, Server, check_server, free_port, temporary_directory, wait_for  # noqa: E402

DATE = lambda y, m, d: {"__class__": "date", "year": y, "month": m, "day": d}  # noqa: E731
DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731


def get(host, port, path, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, body, resp


def scrape(host, port):
    status, text, resp = get(host, port, "/metrics")
    assert status == 200, (status, text)
    assert resp.getheader("Content-Type").startswith("text/plain; version=0.0.4"), resp.getheader("Content-Type")
    samples = {}
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, families


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    """Sum over the series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def histogram_consistent(family):
    by_series = {}
    for s in family.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        by_series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if s.name.endswith("_bucket"):
            by_series[key]["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            by_series[key]["count"] = s.value
        elif s.name.endswith("_sum"):
            by_series[key]["sum"] = s.value
    for key, h in by_series.items():
        buckets = sorted(h["buckets"])
        counts = [c for _, c in buckets]
        if not buckets or buckets[-1][0] != float("inf"):
            return False, (key, "no +Inf bucket")
        if counts != sorted(counts):
            return False, (key, "buckets not cumulative", counts)
        if counts[-1] != h["count"] or h["sum"] is None or h["sum"] < 0:
            return False, (key, "+Inf bucket != count", counts[-1], h["count"])
    return True, ""


def main_checks(s, c):
    status, body, _ = get("127.0.0.1", s.port, "/livez")
    c.check("/livez: 200 ok", status == 200 and body.strip() == "ok", (status, body))
    status, body, _ = get("127.0.0.1", s.port, "/readyz")
    c.check("/readyz: 200 ready once serving", status == 200 and body.strip() == "ready", (status, body))

    before, families = scrape("127.0.0.1", s.port)
    c.check("/metrics parses; the call families are declared",
            "atrium_rpc_calls" in families and families["atrium_rpc_calls"].type == "counter", sorted(families))

    admin = s.login()
    new = {"customer": "Metrics", "sale_date": DATE(2026, 12, 7),
           "lines": [["create", [{"product": "Widget", "quantity": DEC("1"), "unit_price": DEC("2")}]]]}
    oid = s.result("model.sale.order.create", [[new], {}], session=admin)[0]
    s.result("model.sale.order.confirm", [[oid], {}], session=admin)  # lock_table: fixed and retried
    empty = s.result("model.sale.order.create", [[{"customer": "Empty", "sale_date": DATE(2026, 12, 7)}], {}],
                     session=admin)[0]
    status, body = s.call("model.sale.order.confirm", [[empty], {}], session=admin)
    c.check("a failing call (UserError)", status == 200 and body.get("error", [None])[0] == "UserError", body)
    status, _, _ = s.post("/%s/" % s.db, b"x" * (3 * 1024 * 1024))
    c.check("an oversized body: 413", status == 413, status)

    after, families = scrape("127.0.0.1", s.port)
    d = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    c.check("calls: model ok counted", d("atrium_rpc_calls_total", family="model", outcome="ok") >= 2,
            d("atrium_rpc_calls_total", family="model", outcome="ok"))
    c.check("calls: common ok counted (login)", d("atrium_rpc_calls_total", family="common", outcome="ok") >= 1)
    c.check("calls: the UserError counted as model user_error",
            d("atrium_rpc_calls_total", family="model", outcome="user_error") == 1,
            d("atrium_rpc_calls_total", family="model", outcome="user_error"))
    c.check("transactions: committed moved", d("atrium_transactions_total", outcome="committed") >= 3,
            d("atrium_transactions_total", outcome="committed"))
    c.check("transactions: started moved", d("atrium_transactions_total", outcome="started") >= 4)
    c.check("transactions: the failed confirm rolled back", d("atrium_transactions_total", outcome="rolled_back") >= 1)
    c.check("retries: the confirm's lock fix counted", d("atrium_transaction_retries_total", cause="lock_fix") >= 1,
            d("atrium_transaction_retries_total", cause="lock_fix"))
    c.check("rejections: the oversized body counted",
            d("atrium_http_rejected_requests_total", reason="body_limit") == 1,
            d("atrium_http_rejected_requests_total", reason="body_limit"))
    calls = total(after, "atrium_rpc_calls_total") - total(before, "atrium_rpc_calls_total")
    durations = total(after, "atrium_rpc_call_duration_seconds_count") - total(
        before, "atrium_rpc_call_duration_seconds_count")
    c.check("the latency histogram counts every call", calls >= 5 and durations == calls, (calls, durations))
    for name in ("atrium_rpc_call_duration_seconds", "atrium_transaction_commit_duration_seconds",
                 "atrium_db_pool_wait_duration_seconds"):
        ok, detail = histogram_consistent(families[name]) if name in families else (False, "missing")
        c.check("histogram %s: cumulative, +Inf = count" % name, ok, detail)
    c.check("commit latency observed", d("atrium_transaction_commit_duration_seconds_count") >= 3)
    c.check("pool gauge for the database", ("atrium_db_pool_connections", (("database", s.db), ("state", "idle")))
            in after, [k for k in after if k[0] == "atrium_db_pool_connections"])
    if s.uri.startswith("sqlite"):
        c.check("SQLite group-commit batch sizes observed",
                d("atrium_sqlite_group_commit_batch_size_count") >= 3,
                d("atrium_sqlite_group_commit_batch_size_count"))
    else:
        c.check("PostgreSQL pool size exported", total(after, "atrium_db_pool_max_connections", database=s.db) >= 1)
    c.check("open connections >= 1 (this one)", value(after, "atrium_http_open_connections") >= 1)
    c.check("fibers alive >= 1", value(after, "atrium_fibers_alive") >= 1)
    c.check("worker pool figures", ("atrium_worker_pool_jobs", (("state", "queued"),)) in after)
    c.check("process RSS > 0", value(after, "process_resident_memory_bytes") > 0)
    for name in ("atrium_tpc_transactions_total", "atrium_tpc_recovery_actions_total"):
        c.check("declared: " + name, any(k[0] == name for k in after))

    # The task queue (issue 22): the confirm queued its confirmation task, which
    # atriumd's worker runs; the depth gauge is counted every 2 s.
    def queue_moved():
        now, _ = scrape("127.0.0.1", s.port)
        return value(now, "atrium_queue_tasks_total", outcome="done") - value(before, "atrium_queue_tasks_total",
                                                                              outcome="done") >= 1
    c.check("queue: the confirmation task ran", wait_for(queue_moved, timeout=30, step=0.1))
    queued, queue_families = scrape("127.0.0.1", s.port)
    q = lambda name, **labels: value(queued, name, **labels) - value(before, name, **labels)  # noqa: E731
    c.check("queue: one task enqueued (the failed confirm queued none)",
            q("atrium_queue_tasks_total", outcome="enqueued") == 1, q("atrium_queue_tasks_total", outcome="enqueued"))
    c.check("queue: started and done once", q("atrium_queue_tasks_total", outcome="started") == 1
            and q("atrium_queue_tasks_total", outcome="done") == 1,
            (q("atrium_queue_tasks_total", outcome="started"), q("atrium_queue_tasks_total", outcome="done")))
    c.check("queue: retried, failed and lease_lost declared, at zero",
            all(("atrium_queue_tasks_total", (("outcome", o),)) in queued
                and value(queued, "atrium_queue_tasks_total", outcome=o) == 0
                for o in ("retried", "failed", "lease_lost")))
    c.check("queue: the run's duration observed", q("atrium_queue_task_duration_seconds_count") == 1,
            q("atrium_queue_task_duration_seconds_count"))
    ok, detail = histogram_consistent(queue_families["atrium_queue_task_duration_seconds"]) \
        if "atrium_queue_task_duration_seconds" in queue_families else (False, "missing")
    c.check("histogram atrium_queue_task_duration_seconds: cumulative, +Inf = count", ok, detail)
    c.check("queue: depth by state (nothing pending, running or failed now)",
            all(("atrium_queue_depth", (("state", st),)) in queued for st in ("pending", "running", "failed"))
            and value(queued, "atrium_queue_depth", state="pending") == 0
            and value(queued, "atrium_queue_depth", state="failed") == 0,
            [(k, v) for k, v in queued.items() if k[0] == "atrium_queue_depth"])
    c.check("queue: workers of this process, none busy now",
            value(queued, "atrium_queue_workers") == 1 and ("atrium_queue_workers_busy", ()) in queued
            and value(queued, "atrium_queue_workers_busy") == 0)
    # The parser names a counter family without its _total.
    c.check("queue: the families are typed",
            [queue_families[n].type if n in queue_families else None
             for n in ("atrium_queue_tasks", "atrium_queue_depth", "atrium_queue_task_duration_seconds")]
            == ["counter", "gauge", "histogram"],
            sorted(n for n in queue_families if n.startswith("atrium_queue")))

    # JSON lines (log.format = json) with the call's fields; the slow-call line (log.slow_call_ms = 1).
    def lines():
        out = []
        for line in s.read_log().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out
    wait_for(lambda: any(l.get("event") == "call" and l.get("method") == "model.sale.order.confirm"
                         and l.get("outcome") == "UserError" for l in lines()), timeout=5)
    parsed = lines()
    calls = [l for l in parsed if l.get("event") == "call"]
    confirm = [l for l in calls if l.get("method") == "model.sale.order.confirm" and l.get("outcome") == "ok"]
    c.check("JSON call lines carry request id, database, user, method, duration, retries, outcome",
            confirm and all(k in confirm[0] for k in ("time", "level", "request_id", "database", "user", "method",
                                                     "duration_ms", "retries", "outcome"))
            and confirm[0]["database"] == s.db and confirm[0]["user"] == str(admin[1]) and confirm[0]["retries"] >= 1,
            confirm[:1])
    slow = [l for l in parsed if l.get("event") == "slow_call" and l.get("method") == "common.db.login"]
    c.check("slow-call line says where the time went",
            slow and all(k in slow[0] for k in ("pool_wait_ms", "commit_ms", "backoff_ms", "statements_and_code_ms")),
            slow[:1])
    text_lines = [l for l in s.read_log().splitlines() if l.startswith("atrium ")]
    c.check("every log line is JSON", not text_lines, text_lines[:3])

    # A non-loopback peer: the server listens on every address, the test connects to this host's own.
    other = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
             if re.match(r"^\d+\.\d+\.\d+\.\d+$", a) and not a.startswith("127.")]
    if other:
        status, body, _ = get(other[0], s.port, "/metrics")
        c.check("/metrics from a non-loopback peer: 403", status == 403, (other[0], status, body))
        status, _, _ = get(other[0], s.port, "/readyz")
        c.check("/readyz from a non-loopback peer: 403", status == 403, status)
    else:
        print("skip: no non-loopback IPv4 address on this host")


class notify_socket:
    """The datagram socket systemd would own (NOTIFY_SOCKET)."""

    def __init__(self):
        self.path = os.path.join(temporary_directory("atrium-notify-"), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def receive(self):
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            pass
        return self.messages


def separate_listener_checks(s, c, metrics_port, notify):
    c.check("sd_notify: READY=1 once listening",
            wait_for(lambda: any("READY=1" in m for m in notify.receive()), timeout=5), notify.messages)
    c.check("sd_notify: WATCHDOG=1 repeated (WATCHDOG_USEC set)",
            wait_for(lambda: sum("WATCHDOG=1" in m for m in notify.receive()) >= 3, timeout=5), notify.messages)
    status, _, _ = get("127.0.0.1", s.port, "/metrics")
    c.check("web.metrics_listen set: /metrics on web.listen is 404", status == 404, status)
    samples, _ = scrape("127.0.0.1", metrics_port)
    c.check("/metrics on web.metrics_listen parses", value(samples, "process_resident_memory_bytes") > 0)
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
    conn.request("POST", "/%s/" % s.db, b"{}", {"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    c.check("web.metrics_listen answers no RPC (404)", status == 404, status)
    status, body, _ = get("127.0.0.1", metrics_port, "/readyz")
    c.check("/readyz on web.metrics_listen: 200", status == 200, (status, body))

    # Drain: a call in flight, SIGTERM; /readyz flips to 503 until the call ends.
    result = {}

    def slow_call():
        result["reply"] = s.call("test.sleep", [3], path="/")
    t = threading.Thread(target=slow_call)
    t.start()
    wait_for(lambda: "test.sleep begins" in s.read_log(), timeout=10)
    s.proc.send_signal(signal.SIGTERM)

    def probe_status():
        # A connection accepted while the drain begins may be closed with the
        # idle ones (as a probe sees it: not ready); the next one is answered.
        try:
            return get("127.0.0.1", metrics_port, "/readyz")[0]
        except (ConnectionError, http.client.HTTPException):
            return None
    seen = wait_for(lambda: probe_status() == 503, timeout=2)
    status, body, _ = get("127.0.0.1", metrics_port, "/readyz")
    c.check("/readyz during the drain: 503 draining", seen and status == 503 and "draining" in body, (status, body))
    status, body, _ = get("127.0.0.1", metrics_port, "/livez")
    c.check("/livez during the drain: 200", status == 200, status)
    c.check("sd_notify: STOPPING=1 at SIGTERM",
            wait_for(lambda: any("STOPPING=1" in m for m in notify.receive()), timeout=5), notify.messages)
    t.join()
    c.check("the call in flight finished", result.get("reply", (None,))[0] == 200, result)


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    # Every address, so that the test can come from a non-loopback one.
    s = Server(atriumd, uri, extra_config="[log]\nformat = json\nslow_call_ms = 1\n")
    with open(s.config) as f:
        text = f.read()
    with open(s.config, "w") as f:
        f.write(text.replace("listen = 127.0.0.1:", "listen = 0.0.0.0:"))
    # JSON lines: the log barrier looks for text lines; the checks wait for JSON ones themselves.
    s.wait_for_log_barrier = lambda timeout=10: time.sleep(0.2)
    c = check_server(s, main_checks)

    metrics_port = free_port()
    notify = notify_socket()
    s2 = Server(atriumd, uri)
    with open(s2.config) as f:
        text = f.read()
    listen = "listen = 127.0.0.1:%d\n" % s2.port  # the keys go into the one [web] section
    with open(s2.config, "w") as f:
        f.write(text.replace(listen, listen + "metrics_listen = 127.0.0.1:%d\ndrain_timeout = 20\n" % metrics_port))
    os.environ["NOTIFY_SOCKET"] = notify.path
    os.environ["WATCHDOG_USEC"] = "400000"  # WATCHDOG=1 every 0.2 s
    try:
        s2.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
    try:
        separate_listener_checks(s2, c, metrics_port, notify)
    except Exception as error:
        c.check("no unexpected exception (separate listener)", False, repr(error))
    rc = s2.proc.wait(30)
    c.check("SIGTERM: atriumd exits 0 after the drain", rc == 0, rc)
    if c.failures:
        print(s2.read_log()[-4000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
