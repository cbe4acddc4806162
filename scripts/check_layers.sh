#!/usr/bin/env bash
# Fails (exit 1) when a source file includes a layer above its own.
# Layers, lowest first: util <- fiber <- database <- transaction <- participants
# <- modules <- server.
# A layer may include itself and the layers below it; tests/ and bench/ may
# include anything. The transaction layer also includes no backend
# (database/postgresql/, database/sqlite/): it speaks to database/*.hpp only.
# Boost.Context's detail headers (its forced_unwind) are named in fiber/ only:
# elsewhere a catch (...) calls fiber::rethrow_if_unwinding().
# Asio is included only by the fiber runtime (fiber/) and server/, Beast only
# by server/: the layers between wait through fiber/waiter.hpp.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

layers=(util fiber database transaction participants modules server)
rank_of() {
  local i
  for i in "${!layers[@]}"; do
    [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }
  done
  echo -1
}

status=0
for layer in "${layers[@]}"; do
  own=$(rank_of "$layer")
  [ -d "$layer" ] || continue
  while IFS= read -r -d '' file; do
    # `#include "layer/..."` (or <layer/...>): the first path component names the layer.
    while IFS=: read -r line target; do
      included=$(rank_of "${target%%/*}")
      if [ "$included" -gt "$own" ]; then
        echo "check_layers: $file:$line includes \"$target\" (layer ${target%%/*} is above $layer)" >&2
        status=1
      fi
      if [ "$layer" != fiber ] && [[ "$target" == boost/context/detail/* ]]; then
        echo "check_layers: $file:$line includes \"$target\" (Boost.Context's detail headers stay in fiber/)" >&2
        status=1
      fi
      if [ "$layer" != fiber ] && [ "$layer" != server ] && [[ "$target" == boost/asio* ]]; then
        echo "check_layers: $file:$line includes \"$target\" (Asio stays in fiber/ and server/)" >&2
        status=1
      fi
      if [ "$layer" != server ] && [[ "$target" == boost/beast* ]]; then
        echo "check_layers: $file:$line includes \"$target\" (Beast stays in server/)" >&2
        status=1
      fi
      if [ "$layer" = transaction ] && [[ "$target" == database/*/* ]]; then
        echo "check_layers: $file:$line includes \"$target\" (a backend; transaction/ names none)" >&2
        status=1
      fi
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][^">]+[">]' "$file" |
          sed -E 's@^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]+)[">].*@\1:\2@')
  done < <(find "$layer" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
done

# tests/ and bench/ may include any layer, but not Boost.Context's detail headers.
while IFS= read -r hit; do
  echo "check_layers: $hit (Boost.Context's detail headers stay in fiber/)" >&2
  status=1
done < <(grep -rn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]boost/context/detail/' tests bench \
           --include='*.hpp' --include='*.cpp' --include='*.h' --include='*.cc' 2>/dev/null || true)

if [ "$status" -eq 0 ]; then
  echo "check_layers: ok (${layers[*]})"
fi
exit "$status"
