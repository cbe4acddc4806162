#!/usr/bin/env python3
"""Hostile XML-RPC (issue 19), over real HTTP, as a user without rights would
send it: billion laughs, external entities, 100k-deep nesting, invalid UTF-8
and forbidden character references each get a fault (never an expansion, a
file's content, a crash or a hang); the body limits are JSON's; Basic
credentials are rate limited like common.db.login; a refused create leaves
nothing behind; atriumd serves on and exits cleanly.

usage: security_xmlrpc_e2e.py ATRIUMD [DATABASE_URI]
"""
import base64
import sys
import time
import xmlrpc.client

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from atrium_server import Server, check_server  # noqa: E402

PASSWORD = "mallory-Secret-42"


def basic(login, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (login, password)).encode()).decode()}


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    return check_server(Server(atriumd, uri, db="e2e_xmlrpc"), run_checks).finish()


def call_body(method, value_xml=""):
    params = "<params><param>%s</param></params>" % value_xml if value_xml else ""
    return "<?xml version='1.0'?><methodCall><methodName>%s</methodName>%s</methodCall>" % (method, params)


def run_checks(s, c):
    db = "/%s/" % s.db
    admin = s.login()
    s.result("model.res.user.create", [[{"name": "Mallory", "login": "mallory", "password": PASSWORD}], {}],
             session=admin)
    # Sales are for managers only: mallory is in no group.
    managers = s.result("model.res.group.create", [[{"name": "Sale Managers"}], {}], session=admin)[0]
    s.result("model.ir.model.access.create", [[{"model": "sale.order", "group": managers, "perm_read": True,
                                                "perm_write": True, "perm_create": True, "perm_delete": True}], {}],
             session=admin)
    s.result("model.res.user.write", [[admin[1]], {"groups": [["add", [managers]]]}, {}], session=admin)
    mallory = basic("mallory", PASSWORD)
    xml = {"Content-Type": "text/xml"}

    def post(body, headers=None, path=db):
        h = dict(xml)
        h.update(mallory if headers is None else headers)
        start = time.time()
        status, payload, resp = s.post(path, body, h)
        return status, payload, resp, time.time() - start

    def fault(payload):
        try:
            xmlrpc.client.loads(payload.encode() if isinstance(payload, str) else payload)
        except xmlrpc.client.Fault as error:
            return error
        return None

    def refused(name, body, code, headers=None, path=db):
        status, payload, resp, seconds = post(body, headers, path)
        f = fault(payload) if status == 200 else None
        c.check(name + ": a fault %d" % code, f is not None and f.faultCode == code
                and f.faultString.startswith("Unable to read XML request"), (status, str(payload)[:300]))
        c.check(name + ": answered at once, as text/xml", seconds < 5
                and (resp.getheader("Content-Type") or "").startswith("text/xml"), (seconds, resp.getheader("Content-Type")))
        return payload or ""

    # --- a call that works, for reference ---
    status, payload, resp, _ = post(call_body("model.res.user.get_preferences",
                                              "<value><boolean>1</boolean></value></param><param><value><struct>"
                                              "</struct></value>"))
    c.check("mallory's get_preferences over XML-RPC: a result", status == 200 and "<params>" in payload, payload)

    # --- entities ---
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join('<!ENTITY lol%d "%s">' % (n, ("&lol%s;" % (n - 1 if n > 2 else "")) * 10) for n in range(2, 10))
              + ']><methodCall><methodName>&lol9;</methodName></methodCall>')
    reply = refused("billion laughs", laughs, -32600)
    c.check("billion laughs: nothing expanded", "lollol" not in reply, reply[:200])
    reply = refused("external entity (file)", '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM '
                    '"file:///etc/passwd">]><methodCall><methodName>&x;</methodName></methodCall>', -32600)
    c.check("external entity: no file content", "root:" not in reply, reply[:200])
    refused("external DTD", '<!DOCTYPE methodCall SYSTEM "http://127.0.0.1:9/x.dtd"><methodCall>'
            '<methodName>m</methodName></methodCall>', -32600)
    refused("parameter entity", '<!DOCTYPE m [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
            '<methodCall><methodName>m</methodName></methodCall>', -32600)
    refused("undefined entity", "<methodCall><methodName>&lol;</methodName></methodCall>", -32700)

    # --- nesting: 100k levels (the authenticated limit lets the 4 MB body in) ---
    deep = ("<methodCall><methodName>model.sale.order.create</methodName><params><param>"
            + "<value><array><data>" * 100000 + "</data></array></value>" * 100000 + "</param></params></methodCall>")
    refused("100k-deep arrays", deep, -32600)
    status, _, _, _ = post(deep, {})
    c.check("the same 4 MB without credentials: 413, the body limit JSON has", status == 413, status)
    elements = call_body("m", "<value>" + "<a>" * 100000 + "</a>" * 100000 + "</value>")
    refused("100k-deep elements", elements, -32600)
    refused("100k unclosed structs", call_body("m", "<value><struct><member><name>k</name>" * 100000), -32700)

    # --- characters ---
    refused("invalid UTF-8", b"<methodCall><methodName>model.res.user.read\xff\xfe</methodName></methodCall>", -32702)
    refused("overlong UTF-8", b"<methodCall><methodName>\xc0\xbc</methodName></methodCall>", -32702)
    refused("a NUL reference", "<methodCall><methodName>a&#0;b</methodName></methodCall>", -32702)
    refused("a raw control character", "<methodCall><methodName>a\x01b</methodName></methodCall>", -32702)
    refused("UTF-16", "<methodCall><methodName>m</methodName></methodCall>".encode("utf-16"), -32702)
    refused("another encoding declared", "<?xml version='1.0' encoding='ISO-8859-1'?><methodCall>"
            "<methodName>m</methodName></methodCall>", -32701)
    refused("not XML", "this is not xml", -32600)
    refused("bad base64 in a value", call_body("model.sale.order.read", "<value><base64>!!!</base64></value>"), -32602)

    # --- access rights: the create is refused and leaves nothing ---
    count = len(s.result("model.sale.order.search", [[], 0, None, None, {}], session=admin))
    status, payload, _, _ = post(call_body(
        "model.sale.order.create",
        "<value><array><data><value><struct><member><name>customer</name><value>Mallory</value></member>"
        "</struct></value></data></array></value></param><param><value><struct></struct></value>"))
    f = fault(payload) if status == 200 else None
    c.check("mallory's create: the access error, fault 1", f is not None and f.faultCode == 1
            and "Sale" in f.faultString, (status, payload[:300] if payload else payload))
    c.check("... nothing written", len(s.result("model.sale.order.search", [[], 0, None, None, {}],
                                                  session=admin)) == count)
    status, _, _, _ = post(call_body("model.no.such.method", "<value><struct></struct></value>"))
    c.check("an unknown method under the database: 403, as trytond", status == 403, status)
    status, _, resp, _ = post(call_body("model.res.user.get_preferences"), {})
    c.check("no credentials: 401 with WWW-Authenticate (xmlrpc.client's ProtocolError)",
            status == 401 and resp.getheader("WWW-Authenticate") == 'Basic realm="Tryton"', status)

    # --- Basic credentials are a login: failures are rate limited ---
    statuses = []
    for attempt in range(12):
        status, _, _, _ = post(call_body("model.res.user.get_preferences"), basic("mallory", "guess%d" % attempt))
        statuses.append(status)
        if status == 429:
            break
    c.check("wrong Basic passwords: 401, then 429 like common.db.login",
            statuses[0] == 401 and statuses[-1] == 429 and set(statuses) <= {401, 429}, statuses)

    # --- and atriumd serves on ---
    status, payload, _, _ = post(call_body("common.server.version"), {}, path="/")
    c.check("after all that, common.server.version still answers",
            status == 200 and xmlrpc.client.loads(payload.encode())[0][0] == s.result(
                "common.server.version", [], path="/"), (status, payload))


if __name__ == "__main__":
    sys.exit(main())
