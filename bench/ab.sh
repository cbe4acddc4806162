#!/usr/bin/env bash
# Side-by-side A/B of two atriumd binaries on the same box and database
# server: both run at once (ports 8171 / 8172), and short wrk runs alternate
# between them round after round, so the box's drift hits both alike. Prints
# one line per run and, per cell, the median requests/s of each and B/A.
#
#   bench/ab.sh A_ATRIUMD B_ATRIUMD [BACKEND=pg|sqlite] [CELLS="W2:1 W2:8 W2:64 W3:8 W3:64"] [ROUNDS=4] [SECS=4]
#   A_QUERY / B_QUERY: a query string for each side's database URI ("?pool_size=32").
#   A_WEB / B_WEB: extra lines of each side's [web] section ("processes = 2", "metrics = false"; \n separates lines).
#   A_PORT / B_PORT: the ports (8171 / 8172), when another run uses those.
#
# pg needs the bench cluster running (bench/pg/pg_ctl.sh start). Each binary
# gets its own database (atrium_ab_a / atrium_ab_b, or its own SQLite file).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/env.sh"
a_bin="${1:?A atriumd}"; b_bin="${2:?B atriumd}"; backend="${3:-pg}"
cells="${CELLS:-W2:1 W2:8 W2:64 W3:8 W3:64}"; rounds="${ROUNDS:-4}"; secs="${SECS:-4}"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null' EXIT
declare -A port uid auth name
for side in a b; do
  bin="$a_bin"; port[$side]="${A_PORT:-8171}"; query="${A_QUERY:-}"; web="${A_WEB:-}"
  [ "$side" = b ] && { bin="$b_bin"; port[$side]="${B_PORT:-8172}"; query="${B_QUERY:-}"; web="${B_WEB:-}"; }
  dir="$DATA_DIR/ab-$side"; rm -rf "$dir"; mkdir -p "$dir"
  if [ "$backend" = sqlite ]; then uri="sqlite://$dir/db$query"; name[$side]="$DB_NAME"
  else uri="postgresql://$PGUSER@$PGHOST:$PGPORT/$query"; name[$side]="atrium_ab_$side"
       "$PGBIN/dropdb" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "${name[$side]}"; fi
  printf '[web]\nlisten = 127.0.0.1:%s\n%b\n[database]\nuri = %s\nname = %s\n' "${port[$side]}" "$web" "$uri" "${name[$side]}" > "$dir/atrium.conf"
  (cd "$dir" && ATRIUM_ADMIN_PASSWORD="$ADMIN_PASSWORD" exec "$bin" -c "$dir/atrium.conf" > "$dir/atriumd.log" 2>&1) &
  pids+=($!)
done
for side in a b; do
  for _ in $(seq 150); do
    curl -s -m1 -d '{"id":1,"method":"common.server.version","params":[]}' "http://127.0.0.1:${port[$side]}/" > /dev/null && break
    sleep 0.2
  done
  li="$("$here/lib/login.sh" "http://127.0.0.1:${port[$side]}" "${name[$side]}")"
  uid[$side]="${li%% *}"; auth[$side]="${li#* }"
done
run() {  # side workload conns secs -> requests/s (and errors, if any, on stderr)
  local script t=2
  case "$2" in W1) script=w1_version.lua ;; W2) script=w2_read.lua ;; W3) script=w3_create.lua ;; esac
  [ "$3" -lt 2 ] && t=1
  local out; out="$(TRYTON_UID="${uid[$1]}" "$WRK" -t"$t" -c"$3" -d"${4}s" -s "$here/lua/$script" \
    "http://127.0.0.1:${port[$1]}" -- "${auth[$1]}" "${name[$1]}")"
  grep -E 'Non-2xx|Socket errors|BENCH .*err=[1-9]' <<< "$out" >&2 || true
  awk '/^Requests\/sec:/{print $2}' <<< "$out"
}
declare -A results
for cell in $cells; do
  wl="${cell%%:*}"; c="${cell##*:}"
  run a "$wl" "$c" 1 > /dev/null; run b "$wl" "$c" 1 > /dev/null   # warm up
  for r in $(seq "$rounds"); do
    order="a b"; [ $((r % 2)) = 0 ] && order="b a"
    for side in $order; do
      rps="$(run "$side" "$wl" "$c" "$secs")"
      echo "$backend $wl c$c round $r $side $rps"
      results[$cell:$side]+="$rps "
    done
  done
done
echo
echo "| cell | A median req/s | B median req/s | B/A |"
echo "|---|---|---|---|"
median() { tr ' ' '\n' <<< "$1" | grep . | sort -n | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
for cell in $cells; do
  ma="$(median "${results[$cell:a]}")"; mb="$(median "${results[$cell:b]}")"
  echo "| $backend ${cell/:/ c} | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", b/a}') |"
done
