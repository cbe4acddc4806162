# Sourced by every bench script. Every path, port and binary is a variable with
# a default; override from the environment.
BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
REPO_DIR="${REPO_DIR:-$(cd "$BENCH_DIR/.." && pwd)}"
DATA_DIR="${DATA_DIR:-$BENCH_DIR/.data}"          # generated configs, databases, logs, pids (git-ignored)
PGDATA="${PGDATA:-$DATA_DIR/pg}"                  # our own PostgreSQL 15 cluster
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
PGPORT="${PGPORT:-5491}"
PGHOST="${PGHOST:-127.0.0.1}"
PGUSER_OS="${PGUSER_OS:-postgres}"                # OS user that runs postgres
PGUSER="${PGUSER:-postgres}"                      # DB role (trust auth)
TRYTON_PY="${TRYTON_PY:-/usr/bin/python3}"        # Debian's python, which has trytond
TRYTOND_ADMIN="${TRYTOND_ADMIN:-/usr/bin/trytond-admin}"
UWSGI="${UWSGI:-/usr/bin/uwsgi}"
NGINX="${NGINX:-/usr/sbin/nginx}"
WRK="${WRK:-wrk}"
ADMIN_LOGIN="${ADMIN_LOGIN:-admin}"
ADMIN_PASSWORD="${ADMIN_PASSWORD:-admin}"
DB_NAME="${DB_NAME:-bench}"                       # trytond database (sqlite file / PG db) and Atrium's SQLite db
ATRIUM_PG_DB="${ATRIUM_PG_DB:-atrium_bench}"      # Atrium's PostgreSQL database (trytond has $DB_NAME)
PORT_ATRIUM_SQLITE="${PORT_ATRIUM_SQLITE:-8110}"
PORT_ATRIUM_PG="${PORT_ATRIUM_PG:-8111}"
PORT_TRYTOND_SQLITE="${PORT_TRYTOND_SQLITE:-8112}"
PORT_TRYTOND_PG="${PORT_TRYTOND_PG:-8113}"
PORT_NGINX="${PORT_NGINX:-8190}"
mkdir -p "$DATA_DIR"
export BENCH_DIR REPO_DIR DATA_DIR PGDATA PGBIN PGPORT PGHOST PGUSER PGUSER_OS TRYTON_PY ADMIN_LOGIN ADMIN_PASSWORD DB_NAME
