#!/usr/bin/env python3
"""Issue 17, points 3 and 4: the figures the issue asks for, against a real
atriumd with its default limits (SQLite, or PostgreSQL with a DSN).

* gzip bombs: a 2 GiB bomb (about 2 MB on the wire) sent back to back by
  ATTACKERS clients for SECONDS, with a forged Session header, then with a real
  session (request.max_size_authenticated = --cap, 64 MiB by default: the
  inflated body is held in memory up to the cap, by design). Measured: the
  server's peak RSS above idle, other clients' latency (p50/p99/max, a new
  connection per call, common.server.version on /).
* connection floods from 127.0.0.2 (1,000 idle sockets, then 2,000 slowloris
  ones, each closed one opened again) while a normal client on 127.0.0.1 makes
  calls: its success rate and latency.

usage: bench/security/bomb_and_flood.py ATRIUMD [DSN] [--seconds 10] [--cap BYTES]
"""
import argparse
import multiprocessing
import os
import resource
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "e2e"))
from atrium_server import Server, session_header  # noqa: E402
from security_http_e2e import (Flood, LatencyProbe, PeakRss, gzip_bomb, post, status_field,  # noqa: E402
                               MIB, VERSION_CALL)


def bombard(port, path, bomb, headers, seconds, attackers):
    statuses = {}
    stop = time.monotonic() + seconds

    def run():
        while time.monotonic() < stop:
            try:
                status = post(port, path, bomb, headers, timeout=120)
            except OSError as error:
                status = type(error).__name__
            statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=run) for _ in range(attackers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def flood_process(port, count, slowloris, seconds, closed):
    """The flood in a process of its own: its Python loop must not take the
    probe's interpreter lock (the probe would measure the bench, not the server)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    with Flood(port, count, slowloris) as flood:
        time.sleep(seconds)
    closed.value = flood.closed_by_server


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def latency_row(name, probe, extra=""):
    lat = probe.latencies
    return "| %s | %d | %d | %.1f | %.1f | %.1f | %s |" % (
        name, len(lat), len(lat) - len(probe.failures), percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3,
        max(lat or [0]) * 1e3, extra)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("atriumd")
    parser.add_argument("dsn", nargs="?")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--attackers", type=int, default=2)
    parser.add_argument("--cap", type=int, default=64 * MIB, help="request.max_size_authenticated")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 16384), hard), hard))
    os.environ["ATRIUM_REQUEST__MAX_SIZE_AUTHENTICATED"] = str(args.cap)
    os.environ["ATRIUM_SESSION__IP_NETWORK_4"] = "32"
    s = Server(args.atriumd, args.dsn, db="benchsec").start()
    rows = []
    try:
        admin = s.login()
        db = "/%s/" % s.db
        bomb = gzip_bomb(2048 * MIB)
        time.sleep(1)
        idle = status_field(s.proc.pid, "VmRSS")
        print("idle RSS %.1f MB; bomb %d bytes -> 2 GiB" % (idle / 1e6, len(bomb)), flush=True)
        rows.append("| phase | calls | ok | p50 ms | p99 ms | max ms | attack |")
        rows.append("|---|---|---|---|---|---|---|")
        with LatencyProbe(s.port) as probe:
            time.sleep(args.seconds / 2)
        rows.append(latency_row("baseline (no attack)", probe))
        for name, headers in (
                ("2 GiB bomb, forged session", {"Authorization": session_header(admin[0], admin[1], "0" * 64)}),
                ("2 GiB bomb, real session (cap %d MiB)" % (args.cap // MIB), {"Authorization": session_header(*admin)})):
            headers["Content-Encoding"] = "gzip"
            with LatencyProbe(s.port) as probe, PeakRss(s.proc.pid) as peak:
                statuses = bombard(s.port, db, bomb, headers, args.seconds, args.attackers)
            rows.append(latency_row(name, probe, "%s; peak RSS %+.1f MB above idle" % (statuses, (peak.peak - idle) / 1e6)))
            print(rows[-1], flush=True)
        for kind, count, slowloris in (("idle", 1000, False), ("slowloris", 2000, True)):
            closed = multiprocessing.Value("l", 0)
            flood = multiprocessing.Process(target=flood_process,
                                            args=(s.port, count, slowloris, args.seconds + 2, closed))
            flood.start()
            time.sleep(1.5)
            with LatencyProbe(s.port) as probe:
                time.sleep(args.seconds)
            flood.join()
            rows.append(latency_row("%d %s sockets from 127.0.0.2" % (count, kind), probe,
                                    "%d attacker sockets closed by the server" % closed.value))
            print(rows[-1], flush=True)
    finally:
        s.stop()
    print()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
