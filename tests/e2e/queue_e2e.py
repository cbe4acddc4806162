#!/usr/bin/env python3
"""End-to-end checks of the task queue (issue 22) with atriumd_test's module
test_queue_jobs (tests/support/queue_test_module.hpp), over real HTTP:
tasks queued by a call that fails never run; 4 worker fibers run 200 tasks
queued by calls, each exactly once, woken at once (the safety poll is set to
an hour); kill -9 of a process whose worker is mid-task: another process
takes the task when its lease expires (it sleeps until then: its safety poll
is an hour too) and runs it to completion once.

Then the operator's side: `atrium-admin queue list|retry|drop` on the same
database.

usage: queue_e2e.py ATRIUMD_TEST ATRIUM_ADMIN [DATABASE_URI]
"""
import collections
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Checks, Server, wait_for  # noqa: E402

os.environ["ATRIUM_TEST_QUEUE_MODULE"] = "1"
QUEUE = "[queue]\nworkers = %d\npoll = %d\nlease_margin = 1\nbackoff = 0\n"


def jobs(s, session):
    rows = s.result("model.test.queue.job.search_read", [[], 0, None, None, ["key", "pid"], {}], session=session)
    return [(r["key"], r["pid"]) for r in rows]


def main():
    atriumd, admin_tool = sys.argv[1], sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else None
    c = Checks()
    first = Server(atriumd, uri, extra_config=QUEUE % (4, 3600), db="queue_e2e").start()
    second = None
    try:
        admin = first.login()

        # A call that queues tasks and then fails: its tasks never exist.
        status, body = first.call("model.test.queue.job.enqueue_jobs", [3, "lost", 0, True, {}], session=admin)
        c.check("a failing call answers its error", status == 200 and "error" in body, (status, body))

        # 200 tasks from 20 calls; the poll is an hour, so only the wake-up can run them.
        started = time.time()
        for i in range(20):
            first.result("model.test.queue.job.enqueue_jobs", [10, "batch%d" % i, 0, False, {}], session=admin)
        done = wait_for(lambda: len(jobs(first, admin)) >= 200, timeout=60, step=0.05)
        elapsed = time.time() - started
        rows = jobs(first, admin)
        keys = collections.Counter(k for k, _ in rows)
        c.check("200 tasks ran", done and len(keys) == 200, len(keys))
        c.check("each exactly once", all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1][:5])
        c.check("woken, not polled: 200 tasks within 30 s", elapsed < 30, elapsed)
        print("200 tasks queued by 20 calls, all done in %.2f s" % elapsed)
        queue = first.result("model.test.queue.job.queue_rows", [{}], session=admin)
        c.check("every task done, on its first try",
                len(queue) == 200 and all(r["state"] == "done" and r["tries"] == 1 for r in queue),
                [r for r in queue if r["state"] != "done" or r["tries"] != 1][:5])
        c.check("the failed call's tasks never existed", not any("lost" in r["args"] for r in queue))
        c.check("... and never ran", not any(k.startswith("lost") for k in keys))

        # kill -9 a process whose worker is mid-task (the task sleeps 4 s; lease 1 + 1 s).
        first.result("model.test.queue.job.enqueue_jobs", [1, "killed", 4, False, {}], session=admin)
        running = wait_for(lambda: any(r["state"] == "running" for r in
                                       first.result("model.test.queue.job.queue_rows", [{}], session=admin)),
                           timeout=10, step=0.02)
        c.check("the slow task is running", running)
        first_pid = first.proc.pid
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        second = Server(atriumd, first.uri, extra_config=QUEUE % (1, 3600), db="queue_e2e")
        second.start()
        admin2 = second.login()
        finished = wait_for(lambda: any(k == "killed-0" for k, _ in jobs(second, admin2)), timeout=30, step=0.1)
        c.check("after the lease expired, another process ran the task", finished)
        rows = [r for r in jobs(second, admin2) if r[0] == "killed-0"]
        c.check("... exactly once in effect", len(rows) == 1, rows)
        c.check("... in the other process", rows and rows[0][1] != first_pid, (rows, first_pid))
        task = [r for r in second.result("model.test.queue.job.queue_rows", [{}], session=admin2)
                if "killed" in r["args"]]
        c.check("... done on its second try", task and task[0]["state"] == "done" and task[0]["tries"] == 2, task)

        # The operator's view (the second server's configuration names the database).
        def admin(*words):
            run = subprocess.run([admin_tool, "-c", second.config, "queue"] + list(words),
                                 capture_output=True, text=True, timeout=60)
            return run.returncode, run.stdout, run.stderr
        rc, out, err = admin("list", "done")
        lines = [line.split("\t") for line in out.splitlines()]
        c.check("atrium-admin queue list done: 201 tasks", rc == 0 and len(lines) == 201, (rc, len(lines), err))
        c.check("... as id, state, tries, model.method",
                all(len(f) == 6 and f[1] == "done" and f[3] == "test.queue.job.run" for f in lines), lines[:2])
        killed_id = [f[0] for f in lines if f[2] == "2"]
        rc, out, err = admin("drop", "999999")
        c.check("queue drop of an unknown id fails", rc == 1 and "no task" in err, (rc, err))
        rc, out, err = admin("retry", killed_id[0] if killed_id else "0")
        c.check("queue retry of a done task is refused", rc == 1, (rc, err))
        rc, out, err = admin("drop", killed_id[0] if killed_id else "0")
        c.check("queue drop removes a finished task", rc == 0, (rc, err))
        rc, out, err = admin("list")
        c.check("... and it is gone", rc == 0 and len(out.splitlines()) == 200, (rc, len(out.splitlines())))
        rc, out, err = admin("frobnicate")
        c.check("a bad queue action is a usage error", rc == 2 and "usage" in err, (rc, err))
    except Exception as error:
        c.check("no unexpected exception", False, repr(error))
    finally:
        if first.proc and first.proc.poll() is None:
            rc = first.stop()
            c.check("atriumd exits 0 on SIGTERM", rc == 0, rc)
        if second:
            rc = second.stop()
            c.check("the second atriumd exits 0 on SIGTERM", rc == 0, rc)
        if c.failures:
            print(first.read_log()[-4000:])
            if second:
                print(second.read_log()[-4000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
