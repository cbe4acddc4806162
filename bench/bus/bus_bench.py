#!/usr/bin/env python3
"""The bus under load (issue 22): N clients parked on POST /<db>/bus, what they
cost and what they take from W2, and how fast a commit reaches a client.

usage: bus_bench.py ATRIUMD sqlite|DSN [--clients N] [--secs S] [--rounds R] [--samples M] [--out DIR]
  DSN: postgresql://user@host:port/ (databases atrium_bus_bench and atrium_bus_ref are made afresh)

Two atriumd of the same binary and backend (web.max_connections = N + 500, no
per-network cap): A, the one under test, and B, its twin that nobody parks on,
so that the machine's noise (2 cores shared with others) hits both alike:
 1. W2 (model.res.user.read, wrk -t2 -c8 --latency, bench/lua/w2_read.lua),
    R rounds on each, alternating A B B A …: the ratio A/B of the medians;
 2. N clients of user "parker" park on A (channels [client:<i>], last_message
    null), each on its own connection; A's RSS (/proc/PID/status VmRSS) before
    and once A's /metrics shows N parked: RSS per parked client;
 3. W2 rounds again with them parked: the ratio again; its change is the W2
    loss due to the parked clients;
 4. commit-to-delivery latency, M samples, with the N still parked: a probe
    client of admin parks, then admin confirms a sale order (the sale module
    notifies user:<admin>): delivery − confirm call sent (the commit is inside
    that call) and delivery − confirm reply received; plus A's
    atrium_bus_delivery_lag_seconds (row inserted → answer written);
 5. fan-out: one confirmation whose salesman is "parker" wakes all N: time from
    the call to the last delivery, and p50/p99 over the N (as this one Python
    thread reads them), and the server's side (its lag histogram's growth).
Prints the figures as JSON and (--out) writes <backend>.json and A's log
without its call lines.
"""
import argparse
import asyncio
import base64
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def session(login, uid, key):
    return "Session " + base64.b64encode(("%s:%s:%s" % (login, uid, key)).encode()).decode()


class Server:
    def __init__(self, atriumd, backend, clients, workdir, db="atrium_bus_bench"):
        self.port = free_port()
        self.db = db
        self.dir = workdir
        uri = "sqlite://" + os.path.join(workdir, "var") if backend == "sqlite" else backend
        self.config = os.path.join(workdir, "atrium.conf")
        with open(self.config, "w") as f:
            f.write("[database]\nuri = %s\nname = %s\n" % (uri, self.db))
            f.write("[web]\nlisten = 127.0.0.1:%d\nmax_connections = %d\nmax_connections_per_network = 0\n"
                    % (self.port, clients + 500))
            f.write("[mail]\nmaildir =\n[files]\nstaging =\n[sale]\norders_dir =\n")
            f.write("[bus]\nlong_polling_timeout = 3600\n")
        self.log = open(os.path.join(workdir, "atriumd.log"), "w")
        env = dict(os.environ, ATRIUM_ADMIN_PASSWORD="admin")
        self.proc = subprocess.Popen([atriumd, "-c", self.config], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=workdir)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("atriumd exited; see " + self.log.name)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("atriumd did not listen")

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def call(self, method, params, auth=None):
        data = json.dumps({"id": 1, "method": method, "params": params}).encode()
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        req = urllib.request.Request(self.url("/%s/" % self.db), data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = json.loads(resp.read())
        if "error" in body:
            raise RuntimeError("%s: %s" % (method, body["error"]))
        return body["result"]

    def metric(self, name):
        with urllib.request.urlopen(self.url("/metrics"), timeout=30) as resp:
            text = resp.read().decode()
        found = {}
        for line in text.splitlines():
            if line.startswith(name):
                key, value = line.rsplit(" ", 1)
                found[key] = float(value)
        return found

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def w2(server, auth, uid, secs, conns=8):
    env = dict(os.environ, TRYTON_UID=str(uid))
    out = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % secs, "--latency", "-s",
                          os.path.join(BENCH, "lua", "w2_read.lua"), server.url("/%s/" % server.db), "--", auth,
                          server.db], capture_output=True, text=True, env=env).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    return (float(rps.group(1)) if rps else 0.0), (p99.group(1) + p99.group(2) if p99 else "?"), out


async def http_post(port, path, body, auth):
    """One POST on its own connection; returns (status, json body, seconds)."""
    data = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: %s\r\n"
                 b"Content-Length: %d\r\n\r\n" % (path.encode(), auth.encode(), len(data)) + data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    payload = await reader.readexactly(length)
    writer.close()
    return int(head.split()[1]), (json.loads(payload) if payload else None)


async def park(port, db, auth, channel, last=None):
    status, body = await http_post(port, "/%s/bus" % db, {"last_message": last, "channels": [channel]}, auth)
    return time.perf_counter(), status, body


def make_order(server, auth, salesman):
    return server.call("model.sale.order.create", [[{"customer": "Bench", "salesman": salesman, "lines": [[
        "create", [{"product": "Widget", "quantity": {"__class__": "Decimal", "decimal": "1"},
                    "unit_price": {"__class__": "Decimal", "decimal": "2.50"}}]]]}], {}], auth)[0]


async def w2_rounds(loop, pairs, secs, rounds):
    """Alternating W2 runs (A B B A …) on (server, auth, uid) pairs A and B: their req/s lists."""
    got = {0: [], 1: []}
    for r in range(rounds):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            server, auth, uid = pairs[which]
            rps, _, _ = await loop.run_in_executor(None, w2, server, auth, uid, secs)
            got[which].append(rps)
    return got[0], got[1]


async def admin_of(server):
    uid, key = server.call("common.db.login", ["admin", {"password": "admin"}, "en"])
    return session("admin", uid, key), uid


async def run(args, server, reference, out):
    admin, admin_uid = await admin_of(server)
    ref_admin, ref_uid = await admin_of(reference)
    parker_id = server.call("model.res.user.create", [[{"name": "Parker", "login": "parker",
                                                          "password": "parker-Secret-42"}], {}], admin)[0]
    parker_uid, parker_key = server.call("common.db.login", ["parker", {"password": "parker-Secret-42"}, "en"])
    parker = session("parker", parker_uid, parker_key)
    loop = asyncio.get_running_loop()
    orders = [make_order(server, admin, admin_uid) for _ in range(args.samples)]
    fan_order = make_order(server, admin, parker_id)
    pairs = [(server, admin, admin_uid), (reference, ref_admin, ref_uid)]

    # W2 on A (the bus server) and B (its twin, never parked on), alternating: the machine's noise hits both.
    a, b = await w2_rounds(loop, pairs, args.secs, args.rounds)
    out["w2_before_rps"] = {"A": a, "B": b}
    out["w2_before_ratio_A_over_B"] = round(statistics.median(a) / statistics.median(b), 3)
    await asyncio.sleep(1)
    out["rss_before_kb"] = rss_kb(server.proc.pid)

    # N parked clients of "parker".
    started = time.perf_counter()
    parked = []
    for start in range(0, args.clients, 200):
        parked += [asyncio.ensure_future(park(server.port, server.db, parker, "client:%d" % i))
                   for i in range(start, min(args.clients, start + 200))]
        await asyncio.sleep(0.02)
    while True:
        n = (await loop.run_in_executor(None, server.metric, "atrium_bus_parked_clients")).get(
            "atrium_bus_parked_clients", 0)
        if n >= args.clients or time.perf_counter() - started > 300:
            break
        await asyncio.sleep(0.5)
    out["parked"] = int(n)
    out["park_seconds"] = round(time.perf_counter() - started, 1)
    await asyncio.sleep(2)
    out["rss_parked_kb"] = rss_kb(server.proc.pid)
    out["rss_per_client_kib"] = round((out["rss_parked_kb"] - out["rss_before_kb"]) / max(1, out["parked"]), 2)

    a, b = await w2_rounds(loop, pairs, args.secs, args.rounds)
    out["w2_with_rps"] = {"A": a, "B": b}
    out["w2_with_ratio_A_over_B"] = round(statistics.median(a) / statistics.median(b), 3)
    out["w2_change_with_parked"] = round(out["w2_with_ratio_A_over_B"] / out["w2_before_ratio_A_over_B"] - 1, 3)

    # Commit-to-delivery, one probe at a time, the N still parked.
    since_call, since_reply = [], []
    last = None
    for order in orders:
        probe = asyncio.ensure_future(park(server.port, server.db, admin, "client:probe", last))
        await asyncio.sleep(0.02)  # let it park
        sent = time.perf_counter()
        status, body = await http_post(server.port, "/%s/" % server.db,
                                       {"id": 1, "method": "model.sale.order.confirm", "params": [[order], {}]}, admin)
        replied = time.perf_counter()
        delivered, pstatus, pbody = await probe
        if status != 200 or pstatus != 200 or not (pbody or {}).get("message"):
            out.setdefault("probe_errors", []).append([status, body, pstatus, pbody])
            continue
        last = pbody["message"]["message_id"]
        since_call.append((delivered - sent) * 1000)
        since_reply.append((delivered - replied) * 1000)
    out["latency_samples"] = len(since_call)
    out["latency_call_to_delivery_ms"] = {"p50": round(percentile(since_call, 50), 2),
                                          "p99": round(percentile(since_call, 99), 2)}
    out["latency_reply_to_delivery_ms"] = {"p50": round(percentile(since_reply, 50), 2),
                                           "p99": round(percentile(since_reply, 99), 2)}
    lag = await loop.run_in_executor(None, server.metric, "atrium_bus_delivery_lag_seconds")
    out["server_delivery_lag_buckets"] = {k: v for k, v in lag.items() if "_bucket" in k}

    # Fan-out: one commit for all N.
    sent = time.perf_counter()
    await loop.run_in_executor(None, server.call, "model.sale.order.confirm", [[fan_order], {}], admin)
    results = await asyncio.gather(*parked, return_exceptions=True)
    got = [r for r in results if not isinstance(r, Exception) and r[1] == 200 and (r[2] or {}).get("message")]
    # The server's side of the fan-out (row inserted → answer written), apart from this client's
    # reading of 10,000 answers on one Python thread: the histogram's growth since the probes.
    after = await loop.run_in_executor(None, server.metric, "atrium_bus_delivery_lag_seconds")
    out["server_fanout_lag_buckets"] = {k: after[k] - lag.get(k, 0) for k in after if "_bucket" in k}
    fan = [(r[0] - sent) * 1000 for r in got]
    out["fanout_delivered"] = len(got)
    out["fanout_errors"] = [repr(r) for r in results if isinstance(r, Exception)][:3]
    out["fanout_ms"] = {"p50": round(percentile(fan, 50), 1), "p99": round(percentile(fan, 99), 1),
                        "last": round(max(fan) if fan else float("nan"), 1)}



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("atriumd")
    parser.add_argument("backend", help="sqlite, or postgresql://user@host:port/")
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--secs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4, help="W2 runs per server, before and with")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.clients + 2000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    workdir = tempfile.mkdtemp(prefix="atrium-bus-bench-")
    if args.backend != "sqlite":
        # A fresh database each run.
        for db in ("atrium_bus_bench", "atrium_bus_ref"):
            subprocess.run(["psql", args.backend + "postgres", "-qc", "DROP DATABASE IF EXISTS " + db],
                           check=False, capture_output=True)
    out = {"backend": "sqlite" if args.backend == "sqlite" else "postgresql", "clients": args.clients,
           "secs": args.secs, "samples": args.samples, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    refdir = os.path.join(workdir, "reference")
    os.makedirs(refdir)
    server = Server(os.path.abspath(args.atriumd), args.backend, args.clients, workdir)
    reference = Server(os.path.abspath(args.atriumd), args.backend, args.clients, refdir, db="atrium_bus_ref")
    try:
        asyncio.run(run(args, server, reference, out))
    finally:
        server.stop()
        reference.stop()
        out["atriumd_exit"] = server.proc.returncode
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "%s.json" % out["backend"]), "w") as f:
            f.write(text + "\n")
        # The server's log without its call lines (W2's and the bus answers'), which are counted.
        with open(os.path.join(workdir, "atriumd.log")) as f:
            lines = f.read().splitlines()
        calls = [l for l in lines if re.match(r"atrium INFO: rpc r\d+ ", l)]
        with open(os.path.join(args.out, "%s-atriumd.log" % out["backend"]), "w") as f:
            f.write("\n".join(l for l in lines if not re.match(r"atrium INFO: rpc r\d+ ", l)))
            f.write("\n(%d call lines left out, %d of them bus answers)\n"
                    % (len(calls), sum(1 for l in calls if " bus db=" in l)))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
