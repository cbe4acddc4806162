#!/usr/bin/env python3
"""Sessions end with the right to them, over HTTP as the user who loses it:
deactivating a user or giving them a new password (as trytond does) deletes
every session they hold, so a session stolen or kept open by that user
answers 401 on its very next call; the deactivated user cannot log in, and
reactivating them does not bring the old sessions back.

usage: security_sessions_e2e.py ATRIUMD [POSTGRESQL_DSN]
"""

import sys

from atrium_server import Server, check_server

PASSWORD = "mallory-Secret-9"
NEW_PASSWORD = "mallory-Other-7"


def main():
    atriumd = sys.argv[1]
    uri = sys.argv[2] if len(sys.argv) > 2 else None
    return check_server(Server(atriumd, uri, db="e2e_sessions"), run_checks).finish()


def works(s, session):
    status, body = s.call("model.res.user.get_preferences", [True, {}], session=session)
    return status == 200 and "result" in body


def refused(s, session):
    status, _ = s.call("model.res.user.get_preferences", [True, {}], session=session)
    return status == 401


def run_checks(s, c):
    admin = s.login()
    mallory_id = s.result("model.res.user.create", [[{"name": "Mallory", "login": "mallory",
                                                      "password": PASSWORD}], {}], session=admin)[0]
    first = s.login("mallory", PASSWORD)
    second = s.login("mallory", PASSWORD)
    c.check("mallory's two sessions work", works(s, first) and works(s, second))

    # Deactivated: every session of hers ends at once; she cannot log in.
    s.result("model.res.user.write", [[mallory_id], {"active": False}, {}], session=admin)
    c.check("deactivated: her first session answers 401 on its next call", refused(s, first))
    c.check("... and her second one too", refused(s, second))
    status, _ = s.call("common.db.login", ["mallory", {"password": PASSWORD}, "en"])
    c.check("... and she cannot log in", status == 401, status)
    c.check("the administrator's own session is untouched", works(s, admin))

    # Reactivated: the old sessions stay dead; a new login works.
    s.result("model.res.user.write", [[mallory_id], {"active": True}, {}], session=admin)
    c.check("reactivated: the old session does not come back", refused(s, first))
    third = s.login("mallory", PASSWORD)
    c.check("... a new login works", works(s, third))

    # A new password set by the administrator ends her sessions, as trytond does.
    s.result("model.res.user.write", [[mallory_id], {"password": NEW_PASSWORD}, {}], session=admin)
    c.check("new password: her open session answers 401", refused(s, third))
    status, _ = s.call("common.db.login", ["mallory", {"password": PASSWORD}, "en"])
    c.check("... the old password is refused", status == 401, status)
    fourth = s.login("mallory", NEW_PASSWORD)
    c.check("... the new one works", works(s, fourth))

    # A write that changes neither keeps her logged in.
    s.result("model.res.user.write", [[mallory_id], {"name": "Mallory M."}, {}], session=admin)
    c.check("renaming her keeps her session", works(s, fourth))


if __name__ == "__main__":
    sys.exit(main())
