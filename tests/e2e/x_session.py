"""A private X display (Xvfb) with the real Tryton desktop client in it, driven
with xdotool: what tryton_gui_e2e.py needs to act as a user at a keyboard.

Xvfb picks a free display itself (-displayfd), so parallel tests never share
one; the client gets its own HOME (tryton.conf, known_hosts) and no D-Bus
session, or (notifications=RECORD) a private one of its own (dbus-run-session)
where fake_notifications.py records the desktop notifications it sends, so
nothing leaks between runs. Every wait has a deadline."""

import json
import os
import select
import shutil
import signal
import subprocess
import time

TRYTON = "/usr/bin/tryton"


class Xvfb:
    def __init__(self, width=1280, height=900):
        self.size = (width, height)
        self.proc = None
        self.display = None

    def start(self, timeout=30):
        read_end, write_end = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "%dx%dx24" % self.size, "-nolisten", "tcp",
                 "-noreset"], pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.close(write_end)
            write_end = None
            number = b""
            deadline = time.time() + timeout
            while not number.endswith(b"\n"):
                left = deadline - time.time()
                if left <= 0 or not select.select([read_end], [], [], left)[0]:
                    raise RuntimeError("Xvfb did not report its display")
                chunk = os.read(read_end, 16)
                if not chunk:
                    raise RuntimeError("Xvfb exited with %s" % self.proc.poll())
                number += chunk
            self.display = ":" + number.decode().strip()
            return self
        finally:
            os.close(read_end)
            if write_end is not None:
                os.close(write_end)

    def stop(self):
        stop_process(self.proc)


def stop_process(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class TrytonClient:
    """/usr/bin/tryton, unmodified, started with a tryton:// URL (which skips the
    profile dialog: the password dialog is the only one) and -l DEBUG, whose
    log names every call and its answer."""

    def __init__(self, display, directory, port, db, login="admin", notifications=None):
        self.display = display
        self.notifications = notifications
        self.dir = directory
        self.home = os.path.join(directory, "home")
        self.log_path = os.path.join(directory, "client.log")
        self.port, self.db, self.login = port, db, login
        self.proc = None
        self.log = None
        config = os.path.join(self.home, ".config", "tryton", "6.0")
        os.makedirs(config)
        host = "127.0.0.1:%d" % port
        with open(os.path.join(config, "tryton.conf"), "w") as f:
            f.write("[login]\nlogin = %s\nhost = %s\ndb = %s\nprofile = \nexpanded = True\n"
                    "[client]\ncheck_version = False\nlang = en\n" % (login, host, db))
        with open(os.path.join(config, "known_hosts"), "w") as f:
            f.write(host + " \n")  # plain HTTP: no TLS probe

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "WAYLAND"))}
        env.update(DISPLAY=self.display, HOME=self.home, NO_AT_BRIDGE="1", GDK_BACKEND="x11", LANG="C.UTF-8",
                   LC_ALL="C.UTF-8", GTK_THEME="Adwaita")
        return env

    def start(self):
        self.log = open(self.log_path, "w")
        url = "tryton://127.0.0.1:%d/%s" % (self.port, self.db)
        command = [TRYTON, "-d", "-l", "DEBUG", url]
        if self.notifications:
            # A session bus of its own: the fake daemon owns its name before the client starts.
            fake = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_notifications.py")
            script = ('/usr/bin/python3 "$0" "$1" & i=0; while [ ! -e "$1.ready" ] && [ $i -lt 200 ]; do '
                      'sleep 0.05; i=$((i+1)); done; shift; exec "$@"')
            command = ["dbus-run-session", "--", "sh", "-c", script, fake, self.notifications] + command
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.dir,
                                     start_new_session=bool(self.notifications))
        return self

    def notified(self):
        """The notifications the client sent (fake_notifications.py's records)."""
        if not self.notifications or not os.path.exists(self.notifications):
            return []
        with open(self.notifications) as f:
            return [json.loads(line) for line in f if line.strip()]

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.notifications and self.proc and self.proc.poll() is None:
            # The whole group this start() made: the bus daemon, the fake daemon and the client.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        stop_process(self.proc)
        if self.log:
            self.log.close()

    # --- xdotool ---
    def xdotool(self, *args, timeout=20):
        result = subprocess.run(["xdotool"] + [str(a) for a in args], env=self.env(), capture_output=True,
                                text=True, timeout=timeout)
        return result.stdout

    def windows(self, name):
        out = self.xdotool("search", "--onlyvisible", "--name", name)
        return [w for w in out.split() if w]

    def focus(self, name, timeout):
        """Focuses the visible window titled like name (no window manager runs:
        a new toplevel window does not get the keyboard by itself)."""
        found = wait_until(lambda: self.windows(name), timeout)
        if not found:
            raise RuntimeError("no window titled %r" % name)
        self.xdotool("windowfocus", "--sync", found[-1])
        return found[-1]

    def type(self, text):
        self.xdotool("type", "--delay", 40, text)

    def key(self, *keys):
        self.xdotool("key", "--delay", 60, *keys)

    def wait_log(self, needle, timeout, start=0):
        """Waits until needle appears in the client's log after offset start;
        returns the offset just past it."""
        def found():
            i = self.read_log().find(needle, start)
            return i + len(needle) if i >= 0 else None
        at = wait_until(found, timeout)
        if at is None:
            if self.proc.poll() is not None:
                raise RuntimeError("the client exited (%s) before logging %r" % (self.proc.returncode, needle))
            raise RuntimeError("the client did not log %r within %ss" % (needle, timeout))
        return at

    def screenshot(self, path, window=None):
        """The screen, or the visible window titled like window, as PNG, through
        GDK (python3-gi is a dependency of the client). Returns path, or why not."""
        x = y = 0
        w = h = None
        if window:
            found = self.windows(window)
            if not found:
                return "no window %r" % window
            geometry = dict(line.split("=", 1) for line in
                            self.xdotool("getwindowgeometry", "--shell", found[-1]).split())
            x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        code = ("import gi,sys; gi.require_version('Gdk','3.0'); from gi.repository import Gdk; "
                "r=Gdk.get_default_root_window(); x,y,w,h=(int(a) for a in sys.argv[2:]); "
                "Gdk.pixbuf_get_from_window(r,x,y,w or r.get_width(),h or r.get_height())"
                ".savev(sys.argv[1],'png',[],[])")
        try:
            subprocess.run(["/usr/bin/python3", "-c", code, path, str(x), str(y), str(w or 0), str(h or 0)],
                           env=self.env(), timeout=30, check=True, capture_output=True)
            return path
        except (subprocess.SubprocessError, OSError) as error:
            return "no screenshot (%s)" % error


def wait_until(condition, timeout, step=0.1):
    deadline = time.time() + timeout
    while True:
        expired = time.time() >= deadline
        value = condition()
        if value or expired:
            return value
        time.sleep(step)


def available():
    return all(shutil.which(p) for p in ("Xvfb", "xdotool")) and os.path.exists(TRYTON)
