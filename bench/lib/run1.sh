# Sourced by run.sh: one measurement of one cell. Every runner prints the same fields:
#   rps,p50_ms,p99_ms,ok,errors,bad_status,json_err,sock_err,peak_rss_mb,peak_pss_mb,
#   busy_pct,server_cpu_pct,loadgen_cpu_pct,kernel_cpu_pct,other_cpu_pct,status
# CPU columns are % of the whole box (all cores = 100): server tree(s), load generator,
# kernel threads/irq (fsync work shows here), other user-space processes (interference).
# status: ok | errors (some error counted) | failed:<why> (no figure).
source "$BENCH_DIR/lib/cpuacct.sh"
RUN1_FIELDS="rps,p50_ms,p99_ms,ok,errors,bad_status,json_err,sock_err,peak_rss_mb,peak_pss_mb,busy_pct,server_cpu_pct,loadgen_cpu_pct,kernel_cpu_pct,other_cpu_pct,status"
_failed() { echo "NA,NA,NA,0,0,0,0,0,0,0,0,0,0,0,0,failed:$(tr ',\n' ';  ' <<<"$1")"; }
# wrk latency ("812.00us", "1.20ms", "2.01s") -> ms
_tms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0}
                               else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print "NA" }'; }

# run_wrk URL WORKLOAD CONNS SECS DB RAWFILE
#   env: MEM_PIDS (trees whose peak RSS/PSS is sampled, also counted as server CPU),
#        CPU_PIDS (extra trees counted as server CPU only, e.g. the postmaster), THREADS (2), WRK_TIMEOUT (30s)
run_wrk() {
  local url="$1" wl="$2" conns="$3" secs="$4" db="$5" raw="$6" script auth="-" uid=1 threads memf mp="" timef wu ws cpu
  case "$wl" in W1) script=w1_version.lua ;; W2) script=w2_read.lua ;; W3) script=w3_create.lua ;; esac
  if [ "$wl" != W1 ]; then
    local li
    li="$("$BENCH_DIR/lib/login.sh" "$url" "$db" 2>&1)" || { _failed "$li"; return; }
    uid="${li%% *}"; auth="${li#* }"
  fi
  threads="${THREADS:-2}"; [ "$conns" -lt "$threads" ] && threads="$conns"
  memf="$(mktemp)"; timef="$(mktemp)"
  if [ -n "${MEM_PIDS:-}" ]; then "$BENCH_DIR/lib/memwatch.sh" "$memf" 0.5 $MEM_PIDS & mp=$!; fi
  cpu_window_begin $MEM_PIDS ${CPU_PIDS:-}
  { TIMEFORMAT='%U %S'; time TRYTON_UID="$uid" "$WRK" -t"$threads" -c"$conns" -d"${secs}s" --timeout "${WRK_TIMEOUT:-30s}" \
      --latency -s "$BENCH_DIR/lua/$script" "$url" -- "$auth" "$db" > "$raw" 2>&1 || true; } 2> "$timef"
  read -r wu ws < "$timef"
  cpu=$(cpu_window_end "$wu" "$ws" $MEM_PIDS ${CPU_PIDS:-})
  if [ -n "$mp" ]; then kill -TERM "$mp" 2>/dev/null; wait "$mp" 2>/dev/null || true; fi
  local prss=0 ppss=0; read -r prss ppss < "$memf" 2>/dev/null || true; rm -f "$memf" "$timef"
  local rps p50 p99 b ok bs je se err status=ok
  rps=$(awk '/^Requests\/sec:/{print $2}' "$raw")
  p50=$(_tms "$(awk '$1=="50%"{print $2}' "$raw")"); p99=$(_tms "$(awk '$1=="99%"{print $2}' "$raw")")
  b=$(grep '^BENCH ok=' "$raw" || true)
  ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$b"); bs=$(sed -n 's/.*bad_status=\([0-9]*\).*/\1/p' <<<"$b")
  je=$(sed -n 's/.*json_err=\([0-9]*\).*/\1/p' <<<"$b"); se=$(sed -n 's/.*sock_err=\([0-9]*\).*/\1/p' <<<"$b")
  if [ -z "$rps" ] || [ -z "$b" ]; then _failed "wrk: $(head -c 200 "$raw")"; return; fi
  err=$(( ${bs:-0} + ${je:-0} + ${se:-0} ))
  [ "$err" -gt 0 ] && status="errors:$(sed -n 's/^BENCH first_error=//p' "$raw" | head -c 150 | tr ',\n' '; ')"
  [ "${ok:-0}" -eq 0 ] && [ "$err" -gt 0 ] && rps=0
  echo "$rps,$p50,$p99,${ok:-0},$err,${bs:-0},${je:-0},${se:-0},$((${prss:-0}/1024)),$((${ppss:-0}/1024)),$cpu,$status"
}

# run_pgbench W2|W3 CONNS SECS RAWDIR   (PG LIMIT: pgbench -j 2, simple protocol, TCP like the servers;
#   latency percentiles from the per-transaction log). env: CPU_PIDS = postmaster.
run_pgbench() {
  local wl="$1" c="$2" secs="$3" dir="$4" f j timef wu ws cpu out
  f="$BENCH_DIR/pg/$([ "$wl" = W2 ] && echo w2_read.sql || echo w3_insert.sql)"
  j="${JOBS:-2}"; [ "$c" -lt "$j" ] && j="$c"
  mkdir -p "$dir"; rm -f "$dir"/tx.*; timef="$dir/time"; out="$dir/out.txt"
  cpu_window_begin ${CPU_PIDS:-}
  { TIMEFORMAT='%U %S'; time (cd "$dir" && "$PGBIN/pgbench" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -n -M "${PGBENCH_MODE:-simple}" \
      -c "$c" -j "$j" -T "$secs" -f "$f" -l --log-prefix=tx "${LIMIT_DB:-benchlimit}" > "$out" 2>&1 || true); } 2> "$timef"
  read -r wu ws < "$timef"
  cpu=$(cpu_window_end "$wu" "$ws" ${CPU_PIDS:-})
  local tps n fails lat
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | tail -1)
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
  fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
  [ -n "$tps" ] || { _failed "pgbench: $(grep -m1 -iE 'error|fatal' "$out" || head -c 200 "$out")"; rm -f "$dir"/tx.*; return; }
  lat=$(cat "$dir"/tx.* 2>/dev/null | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END{ if(NR==0){print "NA,NA"; exit}
        i50=int(NR*0.50); if(i50<1)i50=1; i99=int(NR*0.99); if(i99<1)i99=1; printf "%.3f,%.3f", a[i50]/1000, a[i99]/1000}')
  rm -f "$dir"/tx.*
  local status=ok; [ "${fails:-0}" -gt 0 ] && status="errors:pgbench failed transactions"
  echo "$tps,$lat,${n:-0},${fails:-0},0,${fails:-0},0,0,0,$cpu,$status"
}

# run_sqlite_loop insert|read SECS DBFILE   (SQLite LIMIT: one connection, C loop, WAL + synchronous=FULL
#   as atriumd uses; BEGIN IMMEDIATE; INSERT; COMMIT -- or BEGIN; SELECT by id; COMMIT). p50/p99: n/a (mean only).
run_sqlite_loop() {
  local op="$1" secs="$2" db="$3" timef line wu ws cpu
  rm -f "$db" "$db-wal" "$db-shm" "$db-journal"; timef="$(mktemp)"
  cpu_window_begin
  { TIMEFORMAT='%U %S'; time line="$("$BENCH_DIR/sqlite/sqlite_insert" "$db" "${SQLITE_LIMIT_JOURNAL:-wal}" \
      "${SQLITE_LIMIT_SYNC:-full}" "${secs}s" "$op" 2>&1)" || true; } 2> "$timef"
  read -r wu ws < "$timef"; rm -f "$timef"
  cpu=$(cpu_window_end "$wu" "$ws")
  local n t u
  n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<<"$line"); t=$(sed -n 's/.* tps=\([0-9]*\).*/\1/p' <<<"$line")
  u=$(sed -n 's/.* us_per_tx=\([0-9.]*\).*/\1/p' <<<"$line")
  [ -n "$t" ] || { _failed "sqlite loop: $line"; return; }
  # mean latency in the p50 column would mislead: report it as p50=NA, mean in the note
  echo "$t,NA,NA,$n,0,0,0,0,0,0,$cpu,ok:mean_us=$u"
}
