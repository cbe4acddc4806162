#!/usr/bin/env bash
# Raw HTTP LIMIT server: nginx answering a fixed JSON body on loopback (from ../shared/bench/nginx/).
#   nginx/run_nginx.sh start [PORT] [WORKERS] | stop     (PORT $PORT_NGINX, WORKERS default auto = one per core)
# KEEPALIVE=0 makes nginx close after every response (like the uWSGI http-socket peer).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; source "$here/../lib/env.sh"
prefix="$DATA_DIR/nginx"; mkdir -p "$prefix/tmp"
case "${1:-}" in
  start)
    port="${2:-$PORT_NGINX}"
    sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" -e "s|@WORKERS@|${3:-auto}|g" -e "s|@KEEPALIVE@|${KEEPALIVE:-75s}|g" \
      "$here/nginx.conf.in" > "$prefix/nginx.conf"
    "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log"
    for _ in $(seq 50); do [ -s "$prefix/nginx.pid" ] && break; sleep 0.1; done
    echo "nginx on :$port master pid $(cat "$prefix/nginx.pid")" ;;
  stop)
    [ -f "$prefix/nginx.pid" ] || exit 0
    pid="$(cat "$prefix/nginx.pid")"; kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$prefix/nginx.pid"; echo "nginx stopped" ;;
  *) echo "usage: $0 start [PORT] [WORKERS] | stop" >&2; exit 2 ;;
esac
