#!/usr/bin/env bash
# One atriumd against two (issue 20): W2 and W3 on PostgreSQL with the same
# binary at web.processes = 1 (A) and web.processes = 2 (B, a supervisor and
# two children on SO_REUSEPORT sockets), side by side with bench/ab.sh's
# alternating rounds. Needs the bench cluster (bench/pg/pg_ctl.sh start).
#
#   bench/processes.sh [ATRIUMD=build/server/atriumd]   (CELLS, ROUNDS, SECS, A_PORT, B_PORT as ab.sh)
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../build/server/atriumd}"
export CELLS="${CELLS:-W2:8 W2:64 W3:8 W3:64}" A_WEB="processes = 1" B_WEB="processes = 2"
exec "$here/ab.sh" "$bin" "$bin" pg
