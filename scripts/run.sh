#!/usr/bin/env bash
# Installs what is missing, builds and starts atriumd with etc/atrium.conf
# (SQLite under ./var). Extra arguments go to atriumd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$("$root/scripts/build.sh" | tail -n 1)
cd "$root"
exec "$build_dir/server/atriumd" -c "$root/etc/atrium.conf" "$@"
