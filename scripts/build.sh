#!/usr/bin/env bash
# Configures and builds Atrium into ./build (or ./build-sanitize with
# ATRIUM_SANITIZE=1). Extra arguments go to cmake's configure step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" >&2

build_dir="$root/build"
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${ATRIUM_SANITIZE:-0}" = 1 ]; then
  build_dir="$root/build-sanitize"
  flags=(-DCMAKE_BUILD_TYPE=Debug -DATRIUM_SANITIZE=ON)
fi
cmake -S "$root" -B "$build_dir" -G Ninja "${flags[@]}" "$@" >&2
cmake --build "$build_dir" -j "$(nproc)" >&2
echo "$build_dir"
