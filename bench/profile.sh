#!/usr/bin/env bash
# Where the time goes in one cell: starts a fresh atriumd (sqlite or pg, the
# bench's PostgreSQL cluster must be running: bench/pg/pg_ctl.sh start), runs
# one wrk load while `perf record -a` samples the whole box and `strace -c`
# counts atriumd's system calls in a second run, and prints
#   * the CPU split by process (atriumd / postgres / wrk / idle),
#   * atriumd's system calls per request,
#   * the top user-space and kernel symbols of atriumd.
#
#   bench/profile.sh sqlite|pg W1|W2|W3 CONNS [SECS]     (as root; needs perf, strace, wrk)
set -eu   # no pipefail: `| head` cuts the reports short on purpose
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/env.sh"
b="${1:?sqlite|pg}"; wl="${2:?W1|W2|W3}"; c="${3:?CONNS}"; secs="${4:-5}"
ATRIUMD="${ATRIUMD:-$REPO_DIR/build/server/atriumd}"
port=8170; dir="$DATA_DIR/profile-$b"; rm -rf "$dir"; mkdir -p "$dir"
if [ "$b" = sqlite ]; then uri="sqlite://$dir/db"; name="$DB_NAME"
else uri="postgresql://$PGUSER@$PGHOST:$PGPORT/"; name="atrium_profile"
     "$PGBIN/dropdb" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$name"; fi
printf '[web]\nlisten = 127.0.0.1:%s\n[database]\nuri = %s\nname = %s\n' "$port" "$uri" "$name" > "$dir/atrium.conf"
(cd "$dir" && ATRIUM_ADMIN_PASSWORD="$ADMIN_PASSWORD" exec "$ATRIUMD" -c "$dir/atrium.conf" > "$dir/atriumd.log" 2>&1) &
pid=$!; trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 100); do curl -s -m1 -d '{"id":1,"method":"common.server.version","params":[]}' "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
case "$wl" in W1) script=w1_version.lua ;; W2) script=w2_read.lua ;; W3) script=w3_create.lua ;; esac
uid=1; auth=-
if [ "$wl" != W1 ]; then li="$("$here/lib/login.sh" "http://127.0.0.1:$port" "$name")"; uid="${li%% *}"; auth="${li#* }"; fi
t=2; [ "$c" -lt 2 ] && t=1
load() { TRYTON_UID="$uid" "$WRK" -t"$t" -c"$c" -d"${1}s" -s "$here/lua/$script" "http://127.0.0.1:$port" -- "$auth" "$name"; }
load 2 > /dev/null   # warm up
perf record -a -g -F 999 -o "$dir/perf.data" -- sleep "$secs" > /dev/null 2>&1 &
perf_pid=$!
rps="$(load "$secs" | awk '/^Requests\/sec:/{print $2}')"
wait "$perf_pid" || true
echo "## $b $wl c$c: $rps req/s (under perf)"
echo; echo "### CPU by process (% of all samples, 2 cores)"
perf report -i "$dir/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -6
echo; echo "### atriumd: top symbols (% of all samples)"
perf report -i "$dir/perf.data" --no-children --comm atriumd --sort dso,sym --stdio -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | head -25 | cut -c1-140
timeout $((secs + 2)) strace -c -f -p "$pid" -o "$dir/strace.txt" > /dev/null 2>&1 &
st=$!; sleep 0.5
n="$(load "$secs" | awk '/^BENCH ok=/{sub(/.*ok=/,""); print $1+0}')"
wait "$st" || true
echo; echo "### atriumd: system calls per request (strace -c, $n requests, slowed by strace)"
awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%-16s %6.2f\n", $NF, $4 / n }' "$dir/strace.txt" | sort -k2 -nr | head -12
