#!/usr/bin/env python3
"""Open N keep-alive HTTP connections to HOST:PORT and hold them idle.

usage: hold_conns.py HOST PORT N
Each connection sends one W1 request (common.server.version, HTTP/1.1 keep-alive)
and reads its reply, so that it is a real served keep-alive connection; then
all are held idle. Prints "held K" (K = connections that got a 200) once ready,
then waits for SIGTERM/SIGINT or stdin EOF, and prints "open M" = how many the
server had not closed meanwhile. Raise `ulimit -n` above N first.
"""
import os, resource, select, selectors, signal, socket, sys, time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 100
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
body = b'{"id":1,"method":"common.server.version","params":[]}'
req = (b'POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
       % (host.encode(), port, len(body))) + body

def read_reply(s):
    """Reads one HTTP response; returns its status (0 on error/close)."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            return 0
        data += chunk
    head, rest = data.split(b'\r\n\r\n', 1)
    lines = head.split(b'\r\n')
    status = int(lines[0].split()[1])
    hdrs = {l.split(b':', 1)[0].strip().lower(): l.split(b':', 1)[1].strip() for l in lines[1:] if b':' in l}
    if b'content-length' in hdrs:
        need = int(hdrs[b'content-length']) - len(rest)
        while need > 0:
            chunk = s.recv(need)
            if not chunk:
                return 0
            need -= len(chunk)
    elif hdrs.get(b'transfer-encoding', b'').lower() == b'chunked':
        while not rest.endswith(b'0\r\n\r\n'):
            chunk = s.recv(65536)
            if not chunk:
                return 0
            rest += chunk
    return status

socks, failed, first_error = [], 0, ''
batch = 200
t0 = time.time()
for start in range(0, n, batch):
    group = []
    for _ in range(min(batch, n - start)):
        try:
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(req)
            group.append(s)
        except OSError as e:
            failed += 1
            first_error = first_error or repr(e)
    for s in group:
        try:
            if read_reply(s) == 200:
                socks.append(s)
                continue
            first_error = first_error or 'non-200 reply or closed'
        except (OSError, ValueError, IndexError) as e:
            first_error = first_error or repr(e)
        failed += 1
        s.close()
    if failed > n // 10:
        break
print(f'held {len(socks)} failed {failed} secs {time.time() - t0:.1f}' + (f' first_error {first_error}' if first_error else ''),
      flush=True)

stop = False
def on_signal(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
while not stop:
    try:
        r, _, _ = select.select([sys.stdin], [], [], 0.5)
        if r and not sys.stdin.readline():
            break
    except InterruptedError:
        pass
    except (OSError, ValueError):
        time.sleep(0.5)

# A connection the server closed is readable with recv() == b''.
sel = selectors.DefaultSelector()
for s in socks:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
closed = 0
for key, _ in sel.select(timeout=0):
    try:
        if key.fileobj.recv(1, socket.MSG_PEEK) == b'':
            closed += 1
    except OSError:
        closed += 1
print(f'open {len(socks) - closed}', flush=True)
