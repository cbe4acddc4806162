#!/usr/bin/env bash
# Installs the Debian 12 packages Atrium builds and tests with, if any is
# missing. Versioned Boost 1.81 on purpose: the unversioned libboost-*-dev
# packages are 1.74 and would remove 1.81.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config
  libboost1.81-all-dev
  libpqxx-dev libpq-dev
  libsqlite3-dev
  libsodium-dev
  libpugixml-dev
  nlohmann-json3-dev
  zlib1g-dev
  doctest-dev
  postgresql
  python3
  # The real Tryton clients the end-to-end tests drive (issues 18, 19): the
  # desktop client under Xvfb, the web client in headless Chromium through
  # Selenium, and proteus scripts; trytond only as a reference to compare with.
  tryton-client xvfb xauth xdotool
  tryton-sao chromium chromium-driver python3-selenium
  tryton-proteus
  # Operations (issue 20): sd_notify for the systemd unit; the Prometheus text
  # parser the metrics e2e test reads /metrics with.
  libsystemd-dev python3-prometheus-client
  # The bus (issue 22): the GUI test runs the desktop client on a private
  # session bus (dbus-run-session) with a fake notification daemon (python3-gi).
  dbus-daemon python3-gi
)

root=$(cd "$(dirname "$0")/.." && pwd)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
updated=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -q
  updated=1
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The real Tryton 6.0 client's protocol module (tryton/jsonrpc.py), for the
# client compatibility test: unpacked from Debian's tryton-client package into
# .cache/ (not installed: that would pull in GTK).
tryton_dir="$root/.cache/tryton-client"
if [ ! -f "$tryton_dir/usr/lib/python3/dist-packages/tryton/jsonrpc.py" ]; then
  echo "setup: unpacking Debian's tryton-client into $tryton_dir" >&2
  download=$(mktemp -d)
  if ! (cd "$download" && apt-get download -q tryton-client >&2); then
    [ "$updated" = 1 ] || $sudo apt-get update -q
    (cd "$download" && apt-get download -q tryton-client >&2)
  fi
  mkdir -p "$tryton_dir"
  dpkg-deb -x "$download"/tryton-client_*.deb "$tryton_dir"
  rm -rf "$download"
fi
