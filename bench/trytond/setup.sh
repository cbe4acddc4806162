#!/usr/bin/env bash
# Create the trytond 6.0 PEER database and its config (from ../shared/bench/trytond/setup.sh).
#   trytond/setup.sh sqlite|pg  -> $DATA_DIR/trytond-BACKEND.conf (+ db file or PG database $DB_NAME)
# Runs trytond-admin --all with admin password $ADMIN_PASSWORD.
# Env: TRYTOND_SQLITE_JOURNAL=wal switches the SQLite file to WAL (persistent pragma); default:
#      trytond's own default, the rollback journal (journal_mode=delete, synchronous=FULL).
set -euo pipefail
source "$(dirname "$0")/../lib/env.sh"
backend="${1:?sqlite|pg}"
conf="$DATA_DIR/trytond-$backend.conf"
case "$backend" in
  sqlite)
    dir="$DATA_DIR/trytond-sqlite"; mkdir -p "$dir"
    dbfile="$dir/$DB_NAME.sqlite"
    rm -f "$dbfile" "$dbfile-wal" "$dbfile-shm" "$dbfile-journal"; : > "$dbfile"
    uri="sqlite://"; extra="path = $dir" ;;
  pg)
    "$PGBIN/dropdb" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$DB_NAME"
    "$PGBIN/createdb" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -E UTF8 -T template0 "$DB_NAME"
    uri="postgresql://$PGUSER@$PGHOST:$PGPORT/"; extra="" ;;
  *) echo "usage: $0 sqlite|pg" >&2; exit 2 ;;
esac
cat > "$conf.tmp" <<CONF
[web]
root =
[database]
uri = $uri
$extra
list = False
[session]
# default timeout 300 s; raised so that gaps between runs do not expire the bench session
timeout = 86400
CONF
passfile="$DATA_DIR/admin.pass"; printf '%s\n' "$ADMIN_PASSWORD" > "$passfile"
TRYTONPASSFILE="$passfile" "$TRYTON_PY" "$TRYTOND_ADMIN" -c "$conf.tmp" -d "$DB_NAME" --all --email admin@example.com \
  >"$DATA_DIR/trytond-setup-$backend.log" 2>&1 || { tail -30 "$DATA_DIR/trytond-setup-$backend.log" >&2; exit 1; }
if [ "$backend" = sqlite ] && [ "${TRYTOND_SQLITE_JOURNAL:-delete}" = wal ]; then
  sqlite3 "$dbfile" 'PRAGMA journal_mode=WAL;' >/dev/null
fi
mv "$conf.tmp" "$conf"   # the conf exists only once the database is complete
echo "trytond $backend database $DB_NAME ready ($conf)"
