#!/usr/bin/env bash
# Serve the trytond 6.0 PEER under uWSGI (from ../shared/bench/trytond/serve.sh, uwsgi mode).
#   trytond/serve.sh start sqlite|pg PORT | stop PORT
# Debian's production recipe (tryton-server-uwsgi: http-socket, plugins=python3, PYTHONOPTIMIZE=1,
# wsgi=trytond.application:app, threads=4) with processes = one per core (TRYTOND_PROCESSES,
# default nproc), --master --lazy-apps (each worker its own DB connections), request logging off.
# http-socket closes the connection after each response; we add "Connection: close" so that wrk
# does not count each close as a read error. Pid file: $DATA_DIR/trytond-PORT.pid (tree root).
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
cmd="${1:?start|stop}"
if [ "$cmd" = stop ]; then
  port="${2:?PORT}"; pidf="$DATA_DIR/trytond-$port.pid"
  [ -f "$pidf" ] || exit 0
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidf"; echo "trytond on :$port stopped"; exit 0
fi
backend="${2:?sqlite|pg}"; port="${3:?PORT}"
conf="$DATA_DIR/trytond-$backend.conf"
[ -f "$conf" ] || { echo "missing $conf: run trytond/setup.sh $backend first" >&2; exit 1; }
log="$DATA_DIR/trytond-$port.log"; pidf="$DATA_DIR/trytond-$port.pid"
setsid "$UWSGI" --plugins python3 --http-socket "127.0.0.1:$port" \
  --env "TRYTOND_CONFIG=$conf" --env "TRYTOND_DATABASE_NAMES=$DB_NAME" --env PYTHONOPTIMIZE=1 \
  --wsgi trytond.application:app --master --lazy-apps --need-app \
  --processes "${TRYTOND_PROCESSES:-$(nproc)}" --threads "${TRYTOND_THREADS:-4}" --disable-logging --die-on-term \
  --listen 1024 --add-header "Connection: close" >"$log" 2>&1 < /dev/null &
echo $! > "$pidf"
for _ in $(seq 150); do
  if curl -s -m 2 -H 'Content-Type: application/json' -d '{"id":0,"method":"common.server.version","params":[]}' \
       "http://127.0.0.1:$port/" 2>/dev/null | grep -q result; then
    echo "trytond $backend on :$port pid $(cat "$pidf")"; exit 0; fi
  kill -0 "$(cat "$pidf")" 2>/dev/null || break
  sleep 0.2
done
echo "trytond did not come up; log $log:" >&2; tail -20 "$log" >&2; exit 1
