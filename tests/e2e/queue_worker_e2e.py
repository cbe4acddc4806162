#!/usr/bin/env python3
"""atrium-worker (issue 22): atriumd runs with queue.workers = 0 and an
atrium-worker process on the same configuration runs the tasks queued by
calls to atriumd, woken by NOTIFY / the shared counter (the safety poll is an
hour): each task once, in the worker's process; a sale confirmed on atriumd
gets its mail and order file from the worker. kill -9 of atrium-worker
mid-task: another atrium-worker takes the task when its lease expires and
runs it to completion once. SIGTERM mid-task: the task finishes, exit 0;
one longer than web.drain_timeout is abandoned (exit 0) and run by the next.
With queue.keep_done = 1 a worker purges the done tasks; a failed one stays.

usage: queue_worker_e2e.py ATRIUMD_TEST ATRIUM_WORKER_TEST ATRIUM_ADMIN [DATABASE_URI]
"""
import collections
import http.client
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Checks, Server, wait_for  # noqa: E402

os.environ["ATRIUM_TEST_QUEUE_MODULE"] = "1"
DEC = lambda text: {"__class__": "Decimal", "decimal": text}  # noqa: E731


class Worker:
    """atrium-worker(_test) on a server's configuration and directory."""

    def __init__(self, binary, server, name, env=None):
        self.log_path = os.path.join(server.dir, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "-c", server.config], stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=server.dir, env=dict(os.environ, **(env or {})))
        self.pid = self.proc.pid

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def ready(self):
        return wait_for(lambda: "atrium-worker: ready" in self.read_log() or self.proc.poll() is not None,
                        timeout=60, step=0.02) and self.proc.poll() is None

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "timeout"
        return self.proc.returncode


def depth(server, state):
    """atriumd's atrium_queue_depth{state=...} from /metrics (loopback may scrape)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    found = re.search(r'^atrium_queue_depth\{state="%s"\} (\S+)$' % state, text, re.M)
    return float(found.group(1)) if found else None


def main():
    atriumd, worker_binary, admin = sys.argv[1], sys.argv[2], sys.argv[3]
    uri = sys.argv[4] if len(sys.argv) > 4 else None
    c = Checks()
    probe = Server(atriumd, uri)  # only for a directory
    orders_dir = os.path.join(probe.dir, "orders")
    config = ("[queue]\nworkers = 0\npoll = 3600\nlease_margin = 1\nbackoff = 0\n"
              "[sale]\norders_dir = %s\nmail_to = desk@example.com\n") % orders_dir
    s = Server(atriumd, uri, extra_config=config, db="worker_e2e").start()
    workers = []
    try:
        session = s.login()

        def admin_tool(*words):
            run = subprocess.run([admin, "-c", s.config, "queue"] + list(words), capture_output=True, text=True,
                                 timeout=60)
            return run.returncode, run.stdout, run.stderr

        def jobs():
            rows = s.result("model.test.queue.job.search_read", [[], 0, None, None, ["key", "pid"], {}], session=session)
            return [(r["key"], r["pid"]) for r in rows]

        def queue_rows():
            return s.result("model.test.queue.job.queue_rows", [{}], session=session)

        # Nothing runs tasks yet: atriumd has no worker.
        s.result("model.test.queue.job.enqueue_jobs", [5, "early", 0, False, {}], session=session)
        time.sleep(0.5)  # a window in which a worker would have run them; none may
        c.check("atriumd with queue.workers = 0 runs no task", jobs() == [] and
                all(r["state"] == "pending" for r in queue_rows()), queue_rows())
        c.check("atriumd's /metrics: 5 tasks pending (the depth gauge, counted every 2 s)",
                wait_for(lambda: depth(s, "pending") == 5, timeout=15, step=0.1), depth(s, "pending"))

        first = Worker(worker_binary, s, "worker1")
        workers.append(first)
        c.check("atrium-worker starts", first.ready(), first.read_log()[-2000:])
        started = time.time()
        for i in range(10):
            s.result("model.test.queue.job.enqueue_jobs", [10, "batch%d" % i, 0, False, {}], session=session)
        done = wait_for(lambda: len(jobs()) >= 105, timeout=60, step=0.05)
        elapsed = time.time() - started
        rows = jobs()
        keys = collections.Counter(k for k, _ in rows)
        c.check("the 5 early and 100 later tasks ran", done and len(keys) == 105, len(keys))
        c.check("... each exactly once", all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1][:5])
        c.check("... all in the atrium-worker process", {p for _, p in rows} == {first.pid},
                ({p for _, p in rows}, first.pid, s.proc.pid))
        c.check("... woken, not polled (poll = 1 h): within 30 s", elapsed < 30, elapsed)
        print("100 tasks queued on atriumd, run by atrium-worker in %.2f s" % elapsed)

        # The sale's confirmation: confirmed on atriumd, mail and file from the worker.
        order = s.result("model.sale.order.create", [[{"customer": "Worker", "lines": [["create", [
            {"product": "Widget", "quantity": DEC("2"), "unit_price": DEC("3.50")}]]]}], {}], session=session)[0]
        s.result("model.sale.order.confirm", [[order], {}], session=session)
        number = s.result("model.sale.order.read", [[order], ["number"], {}], session=session)[0]["number"]
        maildir_new = os.path.join(s.dir, "mail", "new")
        produced = wait_for(lambda: os.path.exists(os.path.join(orders_dir, number + ".txt"))
                            and os.path.isdir(maildir_new) and len(os.listdir(maildir_new)) == 1, timeout=30, step=0.05)
        c.check("a sale confirmed on atriumd gets its order file and mail from atrium-worker", produced,
                (os.listdir(orders_dir) if os.path.isdir(orders_dir) else None))

        # kill -9 the worker mid-task (the task sleeps 4 s; its lease is 1 + 1 s).
        s.result("model.test.queue.job.enqueue_jobs", [1, "killed", 4, False, {}], session=session)
        running = wait_for(lambda: any(r["state"] == "running" and "killed" in r["args"] for r in queue_rows()),
                           timeout=15, step=0.02)
        c.check("the slow task is running in atrium-worker", running)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        second = Worker(worker_binary, s, "worker2")
        workers.append(second)
        c.check("a second atrium-worker starts", second.ready(), second.read_log()[-2000:])
        finished = wait_for(lambda: any(k == "killed-0" for k, _ in jobs()), timeout=30, step=0.1)
        c.check("after the lease expired, the second worker ran the task", finished)
        rows = [r for r in jobs() if r[0] == "killed-0"]
        c.check("... exactly once in effect", len(rows) == 1, rows)
        c.check("... in the second worker", rows and rows[0][1] == second.pid, (rows, second.pid, first.pid))
        task = [r for r in queue_rows() if "killed" in r["args"]]
        c.check("... done on its second try", task and task[0]["state"] == "done" and task[0]["tries"] == 2, task)

        # SIGTERM mid-task: the task in hand finishes, then exit 0.
        s.result("model.test.queue.job.enqueue_jobs", [1, "drained", 1.5, False, {}], session=session)
        running = wait_for(lambda: any(r["state"] == "running" and "drained" in r["args"] for r in queue_rows()),
                           timeout=15, step=0.02)
        c.check("a task is running when SIGTERM comes", running)
        rc = second.stop()
        c.check("atrium-worker exits 0 on SIGTERM", rc == 0, (rc, second.read_log()[-2000:]))
        task = [r for r in queue_rows() if "drained" in r["args"]]
        c.check("... after finishing its task", task and task[0]["state"] == "done" and task[0]["tries"] == 1
                and [p for k, p in jobs() if k == "drained-0"] == [second.pid], task)

        # A task longer than web.drain_timeout: SIGTERM abandons it (rolled
        # back), exit 0; the next worker takes it once its lease expires.
        hasty = Worker(worker_binary, s, "worker_hasty", {"ATRIUM_WEB__DRAIN_TIMEOUT": "1"})
        workers.append(hasty)
        c.check("a worker with web.drain_timeout = 1 starts", hasty.ready(), hasty.read_log()[-2000:])
        s.result("model.test.queue.job.enqueue_jobs", [1, "abandoned", 6, False, {}], session=session)
        running = wait_for(lambda: any(r["state"] == "running" and "abandoned" in r["args"] for r in queue_rows()),
                           timeout=15, step=0.02)
        c.check("its task is running when SIGTERM comes", running)
        stopping = time.time()
        rc = hasty.stop()
        c.check("it exits 0 after web.drain_timeout, leaving the task", rc == 0 and time.time() - stopping < 5,
                (rc, time.time() - stopping, hasty.read_log()[-2000:]))
        c.check("... which has not run to completion", not any(k == "abandoned-0" for k, _ in jobs()))

        # queue.keep_done = 1 (the environment overrides the file): a worker
        # purges the done tasks within seconds; a poison task ends failed and stays.
        s.result("model.test.queue.job.enqueue_jobs", [1, "poison", -1, False, {}], session=session)
        third = Worker(worker_binary, s, "worker3", {"ATRIUM_QUEUE__KEEP_DONE": "1", "ATRIUM_QUEUE__MAX_TRIES": "2"})
        workers.append(third)
        c.check("a third atrium-worker starts (keep_done = 1)", third.ready(), third.read_log()[-2000:])
        purged = wait_for(lambda: [(r["state"], r["tries"]) for r in queue_rows()] == [("failed", 2)], timeout=30,
                          step=0.1)
        rows = queue_rows()
        c.check("done tasks purged, the poison task kept failed", purged, [(r["state"], r["tries"]) for r in rows][:5])
        c.check("the abandoned task ran once, in the third worker",
                [p for k, p in jobs() if k == "abandoned-0"] == [third.pid], [r for r in jobs() if "abandoned" in r[0]])
        c.check("... the tasks' effects stay", len(jobs()) == 108, len(jobs()))
        c.check("atriumd's /metrics: none pending, one failed",
                wait_for(lambda: depth(s, "pending") == 0 and depth(s, "failed") == 1, timeout=15, step=0.1),
                (depth(s, "pending"), depth(s, "failed")))
        rc, out, err = admin_tool("list", "failed")
        c.check("atrium-admin queue list failed shows it with its error",
                rc == 0 and len(out.splitlines()) == 1 and "poisoned job poison-0" in out, (rc, out, err))
    except Exception as error:
        c.check("no unexpected exception", False, repr(error))
    finally:
        for w in workers:
            w.stop()
        rc = s.stop()
        c.check("atriumd exits 0 on SIGTERM", rc == 0, rc)
        if c.failures:
            print(s.read_log()[-4000:])
            for w in workers:
                print(w.read_log()[-3000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
