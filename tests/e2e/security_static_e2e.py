#!/usr/bin/env python3
"""Issue 19, the web client's static files, from the attacker's side over HTTP.

atriumd serves web.root on GET and HEAD; a request naming anything outside it
(.., %2e%2e, encoded slashes or backslashes, NUL, a symbolic link leading out,
dotfiles) gets 404 and never a byte of the file; a directory without
index.html is 404 (no listing). The caching headers, 304s and gzip work; the
JSON-RPC POSTs on the same routes still answer.

usage: security_static_e2e.py ATRIUMD [POSTGRESQL_SERVER_URI]
"""
import gzip
import os
import socket
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server, temporary_directory  # noqa: E402

SECRET = "TOP-SECRET-7c1f"
SCRIPT = "var sao = 1;\n" + "// padding\n" * 400


def raw_request(port, request_bytes):
    """Sends the exact bytes (no client-side normalisation); returns (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request_bytes)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(port, target, method="GET", extra=""):
    if isinstance(target, str):
        target = target.encode("latin-1")
    return raw_request(port, method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       + extra.encode() + b"Connection: close\r\n\r\n")


def make_site():
    base = temporary_directory("atrium-e2e-static-")
    root = os.path.join(base, "www")
    os.makedirs(os.path.join(root, "dist"))
    os.makedirs(os.path.join(root, "empty"))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<html><body>web client</body></html>")
    with open(os.path.join(root, "dist", "app.js"), "w") as f:
        f.write(SCRIPT)
    with open(os.path.join(root, "empty", "a.txt"), "w") as f:
        f.write("listed?")
    with open(os.path.join(root, ".env"), "w") as f:
        f.write(SECRET)
    with open(os.path.join(base, "secret.txt"), "w") as f:
        f.write(SECRET)
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(root, "leak.txt"))
    os.symlink(base, os.path.join(root, "parent"))
    return root


ESCAPES = [
    "/../secret.txt", "/dist/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
    "/%2e%2e%2fsecret.txt", "/dist%2f..%2f..%2fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt",
    "/%252e%252e/secret.txt", "/leak.txt", "/parent/secret.txt", "/.env", "/%2eenv",
    "/index.html%00", "/index.html%00.js", "http://127.0.0.1/../secret.txt", "secret.txt", "/empty/", "/empty",
    "/dist/app.js/", "/%", "/%zz/", "/" + "a/" * 2000 + "x",
]


def run_checks(s, c):
    port = s.port
    status, headers, body = get(port, "/")
    c.check("GET / answers index.html as text/html", status == 200 and b"web client" in body
            and headers.get("content-type", "").startswith("text/html"), (status, headers))
    c.check("with ETag, Last-Modified and Cache-Control", headers.get("etag") and headers.get("last-modified")
            and "max-age=" in headers.get("cache-control", ""), headers)
    status, h2, body = get(port, "/", extra="If-None-Match: %s\r\n" % headers.get("etag"))
    c.check("If-None-Match: 304 without a body", status == 304 and body == b"", (status, body[:80]))
    status, _, body = get(port, "/", extra="If-Modified-Since: %s\r\n" % headers.get("last-modified"))
    c.check("If-Modified-Since: 304", status == 304 and body == b"", status)
    status, headers, body = get(port, "/dist/app.js", extra="Accept-Encoding: gzip, deflate\r\n")
    c.check("a script, gzipped when accepted", status == 200 and headers.get("content-encoding") == "gzip"
            and gzip.decompress(body).decode() == SCRIPT
            and headers.get("content-type") == "text/javascript; charset=utf-8", (status, headers))
    status, headers, body = get(port, "/dist/app.js", method="HEAD")
    c.check("HEAD: the length, no body", status == 200 and headers.get("content-length") == str(len(SCRIPT))
            and body == b"", (status, headers, len(body)))
    status, headers, _ = get(port, "/dist/app.js", method="PUT")
    c.check("PUT: 405, and Allow names the methods served (GET and HEAD too)",
            status == 405 and headers.get("allow") == "GET, HEAD, POST, OPTIONS", (status, headers))

    for target in ESCAPES:
        status, _, body = get(port, target)
        c.check("escape %r: 4xx, nothing of the file" % target[:60],
                400 <= status < 500 and SECRET.encode() not in body and b"listed?" not in body, (status, body[:80]))
    # A NUL byte in the request line itself.
    status, _, body = raw_request(port, b"GET /index.html\x00../../secret.txt HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
    c.check("a raw NUL in the target: 4xx", 400 <= status < 500 and SECRET.encode() not in body, status)

    status, body, _ = s.post("/", {"id": 1, "method": "common.server.version", "params": []})
    c.check("JSON-RPC POST / still answers", status == 200 and body.get("result"), (status, body))
    admin = s.login()
    status, body = s.call("model.sale.order.search_count", [[], {}], session=admin)
    c.check("JSON-RPC POST /<db>/ still answers", status == 200 and body.get("result") == 0, (status, body))
    status, _, _ = get(port, "/%s/" % s.db)
    c.check("GET /<db>/ (no such file): 404", status == 404, status)


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    os.environ["ATRIUM_WEB__ROOT"] = make_site()
    return check_server(Server(atriumd, uri, db="e2e"), run_checks).finish()


if __name__ == "__main__":
    sys.exit(main())
