#!/usr/bin/python3
"""A stand-in for the desktop's notification daemon on a private session bus:
owns org.freedesktop.Notifications and appends every Notify call to RECORD as
one JSON line {"app_name", "summary", "body"}. GLib's GNotification falls back
to this interface when no portal and no org.gtk.Notifications exist, so the
Tryton client's Gio notifications end up here (tryton_gui_e2e.py).

usage: fake_notifications.py RECORD   (writes RECORD.ready once the name is owned)
"""
import json
import sys

from gi.repository import Gio, GLib

XML = """<node><interface name="org.freedesktop.Notifications">
<method name="Notify"><arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
<arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
<arg type="a{sv}" direction="in"/><arg type="i" direction="in"/><arg type="u" direction="out"/></method>
<method name="CloseNotification"><arg type="u" direction="in"/></method>
<method name="GetCapabilities"><arg type="as" direction="out"/></method>
<method name="GetServerInformation"><arg type="s" direction="out"/><arg type="s" direction="out"/>
<arg type="s" direction="out"/><arg type="s" direction="out"/></method>
</interface></node>"""

record = sys.argv[1]
count = [0]


def on_call(connection, sender, path, interface, method, parameters, invocation):
    if method == "Notify":
        app_name, _, _, summary, body = parameters.unpack()[:5]
        with open(record, "a") as f:
            f.write(json.dumps({"app_name": app_name, "summary": summary, "body": body}) + "\n")
        count[0] += 1
        invocation.return_value(GLib.Variant("(u)", (count[0],)))
    elif method == "GetCapabilities":
        invocation.return_value(GLib.Variant("(as)", (["body"],)))
    elif method == "GetServerInformation":
        invocation.return_value(GLib.Variant("(ssss)", ("fake", "atrium-tests", "1", "1.2")))
    else:
        invocation.return_value(None)


def on_bus(connection, name):
    info = Gio.DBusNodeInfo.new_for_xml(XML)
    connection.register_object("/org/freedesktop/Notifications", info.interfaces[0], on_call, None, None)


def on_name(connection, name):
    open(record + ".ready", "w").close()


Gio.bus_own_name(Gio.BusType.SESSION, "org.freedesktop.Notifications", Gio.BusNameOwnerFlags.NONE, on_bus, on_name,
                 lambda *a: sys.exit("lost the name"))
GLib.MainLoop().run()
