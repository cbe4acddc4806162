#!/usr/bin/env bash
# Atrium's benchmark suite: one command, one table (see bench/README.md).
#
#   ./bench/run.sh              # full run: REPS=3 x SECS=10 per cell (about 45 min on 2 cores)
#   QUICK=1 ./bench/run.sh      # smoke run: SECS=2 REPS=1
#
# Installs what it needs (apt-get, as root), builds Atrium (./scripts/build.sh
# -DATRIUM_BUILD_BENCH=ON), starts its own PostgreSQL 15 cluster, sets up and
# starts every server, runs the W1-W3 x connections matrix INTERLEAVED (for each
# rep, workload and connection count: Atrium, its peer and its limit back to
# back), then the 10k idle keep-alive connections test and the micro-benchmarks,
# and writes bench/results/<UTC timestamp>/{runs,targets,idle,micro}.csv +
# summary.md (also printed). Everything it started is stopped on exit.
#
# Knobs (environment):
#   REPS (3) SECS (10) CONNS ("1 8 64") WORKLOADS ("W1 W2 W3") QUICK=1 (SECS=2 REPS=1, no noise guard)
#   TARGETS ("atrium-sqlite atrium-pg trytond-sqlite trytond-pg nginx pgbench sqlite-loop")
#   IDLE (1) IDLE_CONNS (10000) IDLE_LOAD_CONNS (8)   MICRO (1) MICRO_MIN_TIME (0.5)
#   BUILD (1; 0 = use the existing binaries)  ATRIUMD (path of atriumd)  MICRO_BIN (path of atrium_micro)
#   INSTALL (1; 0 = do not apt-get)  FRESH_PEER (0; 1 = recreate trytond's databases)
#   PAUSE (1 s between runs)  QUIET_WAIT (30 s: wait for the box to be <= QUIET_PCT=10 % busy before each run)
#   TRIES (2: rerun a run whose kernel+other CPU > OTHER_MAX=10 %)  THREADS (wrk -t, 2)
#   ports and paths: bench/lib/env.sh (PGPORT 5491, PORT_ATRIUM_SQLITE 8110, PORT_ATRIUM_PG 8111,
#   PORT_TRYTOND_SQLITE 8112, PORT_TRYTOND_PG 8113, PORT_NGINX 8190)
set -uo pipefail   # no -e: one target failing must not stop the others
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/env.sh"
source "$here/lib/run1.sh"

if [ "${QUICK:-0}" = 1 ]; then
  SECS="${SECS:-2}"; REPS="${REPS:-1}"; QUIET_WAIT="${QUIET_WAIT:-0}"; TRIES="${TRIES:-1}"; PAUSE="${PAUSE:-0}"
  MICRO_MIN_TIME="${MICRO_MIN_TIME:-0.05}"
fi
REPS="${REPS:-3}"; SECS="${SECS:-10}"; CONNS="${CONNS:-1 8 64}"; WORKLOADS="${WORKLOADS:-W1 W2 W3}"
TARGETS="${TARGETS:-atrium-sqlite atrium-pg trytond-sqlite trytond-pg nginx pgbench sqlite-loop}"
PAUSE="${PAUSE:-1}"; QUIET_WAIT="${QUIET_WAIT:-30}"; QUIET_PCT="${QUIET_PCT:-10}"; TRIES="${TRIES:-2}"; OTHER_MAX="${OTHER_MAX:-10}"
IDLE="${IDLE:-1}"; IDLE_CONNS="${IDLE_CONNS:-10000}"; IDLE_LOAD_CONNS="${IDLE_LOAD_CONNS:-8}"
MICRO="${MICRO:-1}"; MICRO_MIN_TIME="${MICRO_MIN_TIME:-0.5}"; BUILD="${BUILD:-1}"; INSTALL="${INSTALL:-1}"
export REPS SECS CONNS WORKLOADS TARGETS

ts="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${OUT:-$here/results/$ts}"; RAW="$OUT/raw"; mkdir -p "$RAW"
LOG="$OUT/run.log"
log() { printf '[%s] %s\n' "$(date -u +%T)" "$*" | tee -a "$LOG" >&2; }
has() { [[ " $TARGETS " == *" $1 "* ]]; }
any() { local t; for t in "$@"; do has "$t" && return 0; done; return 1; }

# --- state of every target ---------------------------------------------------
declare -A T_STATUS T_DETAIL T_PID T_URL T_DB T_IDLE_KB
set_target() { T_STATUS[$1]="$2"; T_DETAIL[$1]="$3"; }   # TARGET ok|unavailable DETAIL
for t in $TARGETS; do set_target "$t" unavailable "not set up"; done

# --- cleanup: stop everything we started, in reverse order ---------------------
CLEANUP=()
on_exit() {
  local i
  for (( i=${#CLEANUP[@]}-1; i>=0; i-- )); do eval "${CLEANUP[$i]}" >>"$LOG" 2>&1 || true; done
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT TERM

tree_pids() { local p; for p in "$@"; do echo "$p"; tree_pids $(cat /proc/"$p"/task/*/children 2>/dev/null); done; }
tree_rss_kb() {
  local t=0 p r
  for p in $(tree_pids "$@" | sort -u); do r=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null); t=$((t + ${r:-0})); done
  echo "$t"
}
stop_pid() {  # PID: TERM, wait up to 10 s, KILL
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null; return 0
}
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }   # PORT: something listens already
answers_version() {  # URL: does it answer common.server.version with a result?
  curl -s -m 2 -H 'Content-Type: application/json' -d '{"id":0,"method":"common.server.version","params":[]}' \
    "$1/" 2>/dev/null | grep -q '"result"'
}

# --- 0. limits: the idle test holds IDLE_CONNS sockets in the client and in the server --
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n $(( IDLE_CONNS + 20000 )) 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "results -> $OUT (REPS=$REPS SECS=$SECS CONNS='$CONNS' WORKLOADS='$WORKLOADS' ulimit -n $(ulimit -n))"
log "targets: $TARGETS"
[ "$IDLE" = 1 ] && [ "$(ulimit -n)" -lt $(( IDLE_CONNS + 1000 )) ] && \
  log "WARNING: ulimit -n $(ulimit -n) < IDLE_CONNS + 1000: the idle test will not hold $IDLE_CONNS connections"

# --- 1. packages ---------------------------------------------------------------
pkgs=(curl wrk python3 gcc libc6-dev sqlite3 libsqlite3-dev)
any atrium-pg trytond-pg pgbench && pkgs+=(postgresql-15)
has nginx && pkgs+=(nginx-light)
any trytond-sqlite trytond-pg && pkgs+=(tryton-server python3-psycopg2 uwsgi-core uwsgi-plugin-python3)
[ "$MICRO" = 1 ] && pkgs+=(libbenchmark-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$INSTALL" = 1 ]; then
    log "installing ${missing[*]}"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    # nginx's postinst starts the system nginx on :80; we only use our own instance
    { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >>"$LOG" 2>&1 \
      || log "apt-get failed (see $LOG); continuing with what is installed"
  else
    log "missing packages (INSTALL=0): ${missing[*]}"
  fi
fi
command -v "$WRK" >/dev/null || { log "FATAL: wrk is not installed"; exit 1; }

# --- 2. build Atrium -----------------------------------------------------------
if any atrium-sqlite atrium-pg || [ "$MICRO" = 1 ]; then
  if [ "$BUILD" = 1 ]; then
    log "building Atrium (./scripts/build.sh -DATRIUM_BUILD_BENCH=ON; log $RAW/build.log)"
    if bd="$(cd "$REPO_DIR" && ./scripts/build.sh -DATRIUM_BUILD_BENCH=ON 2>"$RAW/build.log" | tail -1)" && [ -d "$bd" ]; then
      ATRIUMD="${ATRIUMD:-$bd/server/atriumd}"; MICRO_BIN="${MICRO_BIN:-$bd/bench/atrium_micro}"
    else
      log "BUILD FAILED: $(tail -3 "$RAW/build.log" | tr '\n' ' ')"
    fi
  fi
  ATRIUMD="${ATRIUMD:-$REPO_DIR/build/server/atriumd}"; MICRO_BIN="${MICRO_BIN:-$REPO_DIR/build/bench/atrium_micro}"
  log "atriumd: $ATRIUMD; micro: $MICRO_BIN"
fi

# --- 3. PostgreSQL cluster -----------------------------------------------------
PG_PID=""
if any atrium-pg trytond-pg pgbench; then
  if "$here/pg/pg_ctl.sh" running; then
    log "PostgreSQL already running in $PGDATA (left running at exit)"
  elif "$here/pg/pg_ctl.sh" init >>"$LOG" 2>&1 && "$here/pg/pg_ctl.sh" start >>"$LOG" 2>&1; then
    CLEANUP+=("'$here/pg/pg_ctl.sh' stop")
    log "PostgreSQL 15 started on :$PGPORT ($PGDATA)"
  else
    log "PostgreSQL did not start (see $PGDATA/server.log); PostgreSQL targets unavailable"
    for t in atrium-pg trytond-pg pgbench; do has "$t" && set_target "$t" unavailable "PostgreSQL did not start"; done
  fi
  PG_PID="$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true)"
fi
pg_ok() { [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; }

# --- 4. limits -------------------------------------------------------------------
if has pgbench && pg_ok; then
  conn=(-h "$PGHOST" -p "$PGPORT" -U "$PGUSER")
  if "$PGBIN/dropdb" "${conn[@]}" --if-exists benchlimit >>"$LOG" 2>&1 && "$PGBIN/createdb" "${conn[@]}" benchlimit >>"$LOG" 2>&1 &&
     "$PGBIN/psql" "${conn[@]}" -q -d benchlimit -f "$here/pg/limit_schema.sql" >>"$LOG" 2>&1; then
    set_target pgbench ok "pgbench -j 2, simple protocol, TCP, db benchlimit"
  else set_target pgbench unavailable "pgbench schema setup failed (see run.log)"; fi
fi
if has sqlite-loop; then
  bin="$here/sqlite/sqlite_insert"
  if { [ -x "$bin" ] && [ "$bin" -nt "$here/sqlite/sqlite_insert.c" ]; } || cc -O2 -o "$bin" "$here/sqlite/sqlite_insert.c" -lsqlite3 >>"$LOG" 2>&1
  then set_target sqlite-loop ok "C loop, one connection, WAL + synchronous=FULL, sqlite $(sqlite3 --version | awk '{print $1}')"
  else set_target sqlite-loop unavailable "cc sqlite_insert.c failed"; fi
fi
if has nginx; then
  if port_busy "$PORT_NGINX"; then set_target nginx unavailable "port $PORT_NGINX is already in use (a stale server?)"
  elif "$here/nginx/run_nginx.sh" start "$PORT_NGINX" >>"$LOG" 2>&1; then
    CLEANUP+=("'$here/nginx/run_nginx.sh' stop")
    T_PID[nginx]="$(cat "$DATA_DIR/nginx/nginx.pid")"; T_URL[nginx]="http://127.0.0.1:$PORT_NGINX"
    set_target nginx ok "nginx $(nginx -v 2>&1 | sed 's|.*/||'), fixed JSON body, keep-alive"
  else set_target nginx unavailable "nginx did not start (see $DATA_DIR/nginx/error.log)"; fi
fi

# --- 5. peer: trytond 6.0 under uWSGI --------------------------------------------
for b in sqlite pg; do
  t="trytond-$b"; has "$t" || continue
  [ "$b" = pg ] && ! pg_ok && continue
  port=$([ "$b" = sqlite ] && echo "$PORT_TRYTOND_SQLITE" || echo "$PORT_TRYTOND_PG")
  if ! command -v "$UWSGI" >/dev/null || [ ! -x "$TRYTOND_ADMIN" ]; then set_target "$t" unavailable "tryton-server/uwsgi not installed"; continue; fi
  if [ "${FRESH_PEER:-0}" = 1 ] || [ ! -f "$DATA_DIR/trytond-$b.conf" ]; then
    log "creating trytond $b database (trytond-admin --all)"
    "$here/trytond/setup.sh" "$b" >>"$LOG" 2>&1 || { set_target "$t" unavailable "trytond-admin failed (see $LOG)"; continue; }
  fi
  if port_busy "$port"; then set_target "$t" unavailable "port $port is already in use (a stale server?)"; continue; fi
  if "$here/trytond/serve.sh" start "$b" "$port" >>"$LOG" 2>&1; then
    CLEANUP+=("'$here/trytond/serve.sh' stop $port")
    T_PID[$t]="$(cat "$DATA_DIR/trytond-$port.pid")"; T_URL[$t]="http://127.0.0.1:$port"; T_DB[$t]="$DB_NAME"
    set_target "$t" ok "trytond $(dpkg-query -W -f='${Version}' tryton-server 2>/dev/null), uWSGI $(nproc) processes x 4 threads"
    sleep 1; T_IDLE_KB[$t]="$(tree_rss_kb "${T_PID[$t]}")"
  else set_target "$t" unavailable "uWSGI did not serve (see $DATA_DIR/trytond-$port.log)"; fi
done

# --- 6. Atrium -------------------------------------------------------------------
start_atrium() {  # sqlite|pg
  local b="$1" t="atrium-$1" port dir uri name pid
  port=$([ "$b" = sqlite ] && echo "$PORT_ATRIUM_SQLITE" || echo "$PORT_ATRIUM_PG")
  dir="$DATA_DIR/atrium-$b"; rm -rf "$dir"; mkdir -p "$dir"    # a fresh database every run
  if [ "$b" = sqlite ]; then uri="sqlite://$dir/db"; name="$DB_NAME"
  else
    uri="postgresql://$PGUSER@$PGHOST:$PGPORT/"; name="$ATRIUM_PG_DB"
    "$PGBIN/dropdb" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$name" >>"$LOG" 2>&1
  fi
  cat > "$dir/atrium.conf" <<CONF
; generated by bench/run.sh
[web]
listen = 127.0.0.1:$port
; room for the 10,000 idle keep-alive connections of the idle test (default 1000)
max_connections = ${ATRIUM_MAX_CONNECTIONS:-12000}
; every load generator connects from 127.0.0.1: no cap per client network
max_connections_per_network = 0
[database]
uri = $uri
name = $name
CONF
  if [ ! -x "$ATRIUMD" ]; then set_target "$t" unavailable "no atriumd binary at $ATRIUMD"; return; fi
  if port_busy "$port"; then set_target "$t" unavailable "port $port is already in use (a stale server?)"; return; fi
  (cd "$dir" && ATRIUM_ADMIN_PASSWORD="$ADMIN_PASSWORD" exec setsid "$ATRIUMD" -c "$dir/atrium.conf" >"$dir/atriumd.log" 2>&1 </dev/null) &
  pid=$!
  CLEANUP+=("stop_pid $pid")
  T_PID[$t]="$pid"; T_URL[$t]="http://127.0.0.1:$port"; T_DB[$t]="$name"
  local i
  for i in $(seq $(( ${ATRIUM_WAIT:-20} * 5 ))); do
    answers_version "${T_URL[$t]}" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"; set_target "$t" unavailable "atriumd exited (rc $?): $(tail -2 "$dir/atriumd.log" | tr '\n|' '  ')"; return
  fi
  if ! answers_version "${T_URL[$t]}"; then
    set_target "$t" unavailable "atriumd (pid $pid) runs but does not answer common.server.version on :$port after ${ATRIUM_WAIT:-20} s; log: $(tail -1 "$dir/atriumd.log" | tr '|' ' ')"
    stop_pid "$pid"; return
  fi
  sleep 1; T_IDLE_KB[$t]="$(tree_rss_kb "$pid")"
  local li; li="$("$here/lib/login.sh" "${T_URL[$t]}" "$name" 2>&1)" || log "$t: $li"
  set_target "$t" ok "atriumd $("$ATRIUMD" --version 2>/dev/null | head -1), $b"
}
for b in sqlite pg; do
  has "atrium-$b" || continue
  [ "$b" = pg ] && ! pg_ok && continue
  start_atrium "$b"
done

# --- targets.csv -----------------------------------------------------------------
{ echo "target,status,idle_rss_kb,url,detail"
  for t in $TARGETS; do echo "$t,${T_STATUS[$t]},${T_IDLE_KB[$t]:-},${T_URL[$t]:-},\"${T_DETAIL[$t]//\"/\'}\""; done; } > "$OUT/targets.csv"
for t in $TARGETS; do log "$(printf '%-15s %-11s %s' "$t" "${T_STATUS[$t]}" "${T_DETAIL[$t]}")"; done
{ echo "date: $(date -u)"; echo "git: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null) $(git -C "$REPO_DIR" branch --show-current 2>/dev/null)"
  echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MB"}' /proc/meminfo)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "knobs: REPS=$REPS SECS=$SECS CONNS='$CONNS' WORKLOADS='$WORKLOADS' THREADS=${THREADS:-2} IDLE_CONNS=$IDLE_CONNS"
  echo "wrk: $("$WRK" -v 2>&1 | head -1)"; echo "sqlite: $(sqlite3 --version | awk '{print $1}')"
  pg_ok && echo "postgresql: $("$PGBIN/postgres" --version)"; } > "$OUT/meta.txt"

# --- 7. the matrix, interleaved ----------------------------------------------------
RUNS="$OUT/runs.csv"
echo "rep,target,role,backend,workload,conns,secs,$RUN1_FIELDS" > "$RUNS"
wait_quiet() {
  local i b0 b1
  for i in $(seq "$QUIET_WAIT"); do
    b0=$(cpu_busy); sleep 1; b1=$(cpu_busy)
    [ $(( (b1 - b0) * 100 / (CLK_TCK * NCPU) )) -le "$QUIET_PCT" ] && return 0
  done
}
role_of() { case "$1" in atrium-*) echo atrium ;; trytond-*) echo peer ;; *) echo limit ;; esac; }
backend_of() { case "$1" in *-sqlite|sqlite-loop) echo sqlite ;; *-pg|pgbench) echo pg ;; *) echo none ;; esac; }
cell() {  # TARGET WORKLOAD CONNS REP
  local t="$1" wl="$2" c="$3" rep="$4" line try noise
  [ "${T_STATUS[$t]:-}" = ok ] || return 0
  for try in $(seq "$TRIES"); do
    wait_quiet
    case "$t" in
      pgbench)     line="$(CPU_PIDS="$PG_PID" run_pgbench "$wl" "$c" "$SECS" "$RAW/pgbench-$wl-c$c-r$rep")" ;;
      sqlite-loop) line="$(run_sqlite_loop "$([ "$wl" = W2 ] && echo read || echo insert)" "$SECS" "$DATA_DIR/sqlite-loop.sqlite")" ;;
      atrium-pg|trytond-pg)
                   line="$(MEM_PIDS="${T_PID[$t]}" CPU_PIDS="$PG_PID" run_wrk "${T_URL[$t]}" "$wl" "$c" "$SECS" "${T_DB[$t]:-x}" "$RAW/$t-$wl-c$c-r$rep.txt")" ;;
      *)           line="$(MEM_PIDS="${T_PID[$t]}" run_wrk "${T_URL[$t]}" "$wl" "$c" "$SECS" "${T_DB[$t]:-x}" "$RAW/$t-$wl-c$c-r$rep.txt")" ;;
    esac
    noise=$(awk -F, '{print $(NF-2) + $(NF-1)}' <<<"$line")
    [ "${noise:-0}" -le "$OTHER_MAX" ] && break
    [ "$try" -lt "$TRIES" ] && log "  noisy run (kernel+other ${noise}%), again: $t $wl c$c"
  done
  echo "$rep,$t,$(role_of "$t"),$(backend_of "$t"),$wl,$c,$SECS,$line" >> "$RUNS"
  log "$(awk -F, '{printf "  r%s %-14s %s c%-3s %10s req/s  p50 %s ms  p99 %s ms  errors %s  RSS %s MB  %s", $1,$2,$5,$6,$8,$9,$10,$12,$16,$23}' <<<"$rep,$t,x,x,$wl,$c,$SECS,$line")"
  sleep "$PAUSE"
}
n_cells=$(( $(wc -w <<<"$WORKLOADS") * $(wc -w <<<"$CONNS") ))
log "matrix: $REPS reps x $n_cells cells x up to $(wc -w <<<"$TARGETS") targets, ${SECS}s each"
first_c="${CONNS%% *}"
for rep in $(seq "$REPS"); do
  for wl in $WORKLOADS; do
    for c in $CONNS; do
      for b in sqlite pg; do
        cell "atrium-$b" "$wl" "$c" "$rep"
        cell "trytond-$b" "$wl" "$c" "$rep"
        # the C loop is one connection: one run per rep and workload (W2 read, W3 insert)
        [ "$b" = sqlite ] && [ "$wl" != W1 ] && [ "$c" = "$first_c" ] && cell sqlite-loop "$wl" 1 "$rep"
      done
      case "$wl" in W1) cell nginx W1 "$c" "$rep" ;; *) cell pgbench "$wl" "$c" "$rep" ;; esac
    done
  done
done

# --- 8. idle keep-alive connections ---------------------------------------------------
IDLEF="$OUT/idle.csv"
echo "target,workload,load_conns,conns_requested,held,open_at_end,rss_before_kb,rss_held_kb,per_conn_kib,rps_before,rps_with,rps_after,change_pct,note" > "$IDLEF"
idle_test() {  # TARGET WORKLOAD
  local t="$1" wl="$2" url port pid fifo hold fd held open before with after r0 r1 per change note
  url="${T_URL[$t]}"; port="${url##*:}"; pid="${T_PID[$t]}"
  log "idle test: $t, $IDLE_CONNS idle keep-alive connections, $wl at $IDLE_LOAD_CONNS conns before/with/after"
  local probs="$RAW/idle-$t-problems.txt"; : > "$probs"
  idle_load() {  # PHASE: one load run; prints its req/s (runs in $(...): problems go to a file)
    local l; l="$(MEM_PIDS="$pid" run_wrk "$url" "$wl" "$IDLE_LOAD_CONNS" "$SECS" "${T_DB[$t]:-x}" "$RAW/idle-$t-$1.txt")"
    [ "${l##*,}" = ok ] || printf ' %s: %s;' "$1" "${l##*,}" >> "$probs"
    echo "${l%%,*}"
  }
  before="$(idle_load before)"
  sleep 1; r0="$(tree_rss_kb "$pid")"
  fifo="$RAW/idle-$t.fifo"; hold="$RAW/idle-$t-hold.txt"; rm -f "$fifo"; mkfifo "$fifo"
  /usr/bin/python3 "$here/idle/hold_conns.py" 127.0.0.1 "$port" "$IDLE_CONNS" < "$fifo" > "$hold" 2>&1 &
  local hp=$!
  exec {fd}>"$fifo"
  for _ in $(seq $(( ${IDLE_WAIT:-180} * 5 ))); do grep -q '^held' "$hold" && break; kill -0 "$hp" 2>/dev/null || break; sleep 0.2; done
  held="$(sed -n 's/^held \([0-9]*\).*/\1/p' "$hold")"
  sleep 2; r1="$(tree_rss_kb "$pid")"
  with="$(idle_load with)"
  exec {fd}>&-                                   # EOF: the holder counts what is still open and exits
  for _ in $(seq 100); do kill -0 "$hp" 2>/dev/null || break; sleep 0.2; done
  stop_pid "$hp"; wait "$hp" 2>/dev/null; rm -f "$fifo"
  open="$(sed -n 's/^open \([0-9]*\).*/\1/p' "$hold")"
  sleep 1
  after="$(idle_load after)"
  note="$(head -1 "$hold" | tr ',' ';')$(tr ',' ';' < "$probs")"
  per="$(awk -v a="$r0" -v b="$r1" -v n="${held:-0}" 'BEGIN{ if (n>0) printf "%.2f", (b-a)/n; else print "NA" }')"
  # reference = mean of the runs before and after that produced a figure
  change="$(awk -v b="$before" -v w="$with" -v a="$after" 'BEGIN{ n=0; s=0; if (b+0>0) {s+=b; n++} if (a+0>0) {s+=a; n++}
                                                              if (n && w+0>0) printf "%.1f", 100*(w/(s/n)-1); else print "NA" }')"
  echo "$t,$wl,$IDLE_LOAD_CONNS,$IDLE_CONNS,${held:-0},${open:-NA},$r0,$r1,$per,${before:-NA},${with:-NA},${after:-NA},$change,$note" >> "$IDLEF"
  log "  held ${held:-0} (open at end ${open:-NA}); RSS ${r0} -> ${r1} KiB = $per KiB/conn; $wl req/s before $before, with $with, after $after ($change %)"
}
if [ "$IDLE" = 1 ]; then
  for t in atrium-sqlite atrium-pg; do [ "${T_STATUS[$t]:-}" = ok ] && idle_test "$t" W2; done
  [ "${T_STATUS[nginx]:-}" = ok ] && idle_test nginx W1      # reference: what a C event loop costs per connection
fi

# --- 9. micro-benchmarks ----------------------------------------------------------------
if [ "$MICRO" = 1 ]; then
  if [ -x "${MICRO_BIN:-}" ]; then
    log "micro-benchmarks ($MICRO_BIN, min time ${MICRO_MIN_TIME}s, $REPS repetitions)"
    TMPDIR="$DATA_DIR" "$MICRO_BIN" --benchmark_min_time="$MICRO_MIN_TIME" --benchmark_repetitions="$REPS" \
      --benchmark_out="$OUT/micro.csv" --benchmark_out_format=csv > "$RAW/micro.txt" 2>&1 || log "micro-benchmarks failed: $(tail -2 "$RAW/micro.txt")"
  else log "micro-benchmarks: no binary at ${MICRO_BIN:-?} (build with -DATRIUM_BUILD_BENCH=ON)"; fi
fi

# --- 10. summary -------------------------------------------------------------------------
/usr/bin/python3 "$here/summarize.py" "$OUT" | tee "$OUT/summary.md"
log "done: $OUT/summary.md"
