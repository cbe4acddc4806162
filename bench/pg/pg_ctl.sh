#!/usr/bin/env bash
# Our own PostgreSQL 15 cluster (adapted from ../shared/bench/pg/pg_ctl.sh).
#   pg/pg_ctl.sh init | start | stop | status | running
# Stock settings (synchronous_commit=on, fsync=on, shared_buffers=128MB) except
# listen 127.0.0.1:$PGPORT, trust auth, socket dir = $PGDATA, max_connections=300.
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
as_pg() { if [ "$(id -un)" = "$PGUSER_OS" ]; then "$@"; else runuser -u "$PGUSER_OS" -- "$@"; fi; }
case "${1:-}" in
  init)
    [ -f "$PGDATA/PG_VERSION" ] && { echo "cluster exists: $PGDATA"; exit 0; }
    mkdir -p "$PGDATA"; chown "$PGUSER_OS" "$PGDATA"; chmod 700 "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U "$PGUSER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDATA/postgresql.conf" <<CONF
# --- bench overrides ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDATA'
max_connections = 300
CONF
    echo "initialised $PGDATA" ;;
  start)
    # the port may have changed since init
    sed -i "s/^port = .*/port = $PGPORT/" "$PGDATA/postgresql.conf"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w start >/dev/null
    echo "postgresql on :$PGPORT pid $(head -1 "$PGDATA/postmaster.pid")" ;;
  stop)    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && echo "postgresql stopped" ;;
  status)  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status ;;
  running) as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 ;;
  *) echo "usage: $0 init|start|stop|status|running" >&2; exit 2 ;;
esac
