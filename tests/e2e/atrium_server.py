"""Starts a real atriumd on a free loopback port for end-to-end tests, and
speaks HTTP/JSON-RPC to it (standard library only)."""

import atexit
import base64
import json
import os
import shutil
import signal
import sys
import socket
import subprocess
import tempfile
import time
import http.client


# Each server's temporary directory is removed when the check ends, unless a
# check failed or an exception escaped: then it stays, with atriumd.log.
_directories = []
_keep = False


def _keep_on_failure(kind, value, traceback):
    global _keep
    _keep = True
    _original_excepthook(kind, value, traceback)


def _remove_directories():
    for d in _directories:
        if _keep:
            print("kept for inspection: " + d, file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)


_original_excepthook = sys.excepthook
sys.excepthook = _keep_on_failure
atexit.register(_remove_directories)


def temporary_directory(prefix):
    """A directory removed at exit like the servers' own (kept on failure)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _directories.append(d)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """atriumd with its own data directory and configuration."""

    def __init__(self, atriumd, database_uri=None, extra_config="", admin_password="admin-secret", db="e2e"):
        self.atriumd = os.path.abspath(atriumd)
        self.port = free_port()
        self.db = db
        self.admin_password = admin_password
        self.dir = temporary_directory("atrium-e2e-")
        uri = database_uri or "sqlite://" + os.path.join(self.dir, "var")
        self.uri = uri
        print("atriumd database.uri = " + uri.split("@")[-1], flush=True)
        self.config = os.path.join(self.dir, "atrium.conf")
        with open(self.config, "w") as f:
            f.write("[database]\nuri = %s\nname = %s\n[web]\nlisten = 127.0.0.1:%d\n" % (uri, db, self.port))
            f.write("[mail]\nmaildir = %s\n[files]\nstaging = %s\n" % (
                os.path.join(self.dir, "mail"), os.path.join(self.dir, "staging")))
            f.write(extra_config)
        self.log_path = os.path.join(self.dir, "atriumd.log")
        self.proc = None

    def start(self, timeout=120):
        env = dict(os.environ, ATRIUM_ADMIN_PASSWORD=self.admin_password)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.atriumd, "-c", self.config], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("atriumd exited with %s:\n%s" % (self.proc.returncode, self.output()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("atriumd did not listen:\n" + self.output())

    def output(self):
        """The log so far. atriumd batches log lines (written within 50 ms): while it
        runs, a marker call whose line the log must show first flushes what came before."""
        if self.proc and self.proc.poll() is None:
            self.wait_for_log_barrier()
        return self.read_log()

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for_log_barrier(self, timeout=10):
        """Makes a common.server.version call and waits until its own log line
        ("rpc <X-Request-Id> ...") is written: lines are written in order, so
        every line logged before it is in the file too."""
        try:
            resp, _ = self.post("/", {"id": 0, "method": "common.server.version", "params": []}, raw=True)
        except OSError:
            return  # not answering: what is in the file is all there is
        request_id = resp.getheader("X-Request-Id")
        if not request_id:
            return
        wait_for(lambda: ("rpc %s " % request_id) in self.read_log(), timeout)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    # --- HTTP ---
    def post(self, path, body, headers=None, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", path, data, h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        if raw:
            return resp, payload
        body = None
        if payload and "json" in (resp.getheader("Content-Type") or ""):
            body = json.loads(payload)
        elif payload:
            body = payload.decode(errors="replace")
        return resp.status, body, resp

    def call(self, method, params, path=None, session=None, headers=None, rid=1):
        h = dict(headers or {})
        if session:
            h["Authorization"] = session_header(*session)
        status, body, resp = self.post(path if path is not None else "/%s/" % self.db,
                                       {"id": rid, "method": method, "params": params}, h)
        return status, body

    def result(self, method, params, **kw):
        status, body = self.call(method, params, **kw)
        assert status == 200, (method, status, body)
        assert "result" in body, (method, body)
        return body["result"]

    def login(self, login="admin", password=None):
        status, body = self.call("common.db.login", [login, {"password": password or self.admin_password}, "en"])
        assert status == 200 and "result" in body, (status, body)
        uid, key = body["result"][0], body["result"][1]
        return (login, uid, key)


def wait_for(condition, timeout=10, step=0.005):
    """Re-checks condition() until it holds; the last check starts once timeout
    seconds have passed. Returns its last value."""
    deadline = time.time() + timeout
    while True:
        expired = time.time() >= deadline
        value = condition()
        if value or expired:
            return value
        time.sleep(step)


def session_header(login, uid, key):
    return "Session " + base64.b64encode(("%s:%s:%s" % (login, uid, key)).encode()).decode()


class Checks:
    """Collects failures so one run reports every broken check."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, name, condition, detail=""):
        self.count += 1
        if condition:
            print("ok   " + name)
        else:
            print("FAIL " + name + (": " + str(detail) if detail else ""))
            global _keep
            _keep = True
            self.failures.append(name)

    def finish(self):
        print("%d checks, %d failed" % (self.count, len(self.failures)))
        return 1 if self.failures or self.count == 0 else 0


def check_server(server, run_checks, checks=None, after_stop=None):
    """Starts server, runs run_checks(server, checks), stops it (SIGTERM must
    exit 0) and prints the end of its log if anything failed. after_stop(log,
    checks) may check the log. Returns the Checks."""
    c = checks or Checks()
    server.start()
    try:
        run_checks(server, c)
    except Exception as error:  # reported as a failed check, so every check still runs
        c.check("no unexpected exception", False, repr(error))
    finally:
        rc = server.stop()
        c.check("SIGTERM: atriumd exits 0", rc == 0, rc)
        log = server.output()
        if after_stop:
            after_stop(log, c)
        if c.failures:
            print(log[-6000:])
    return c
