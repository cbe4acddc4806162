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
  nlohmann-json3-dev
  zlib1g-dev
  doctest-dev
  postgresql
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
