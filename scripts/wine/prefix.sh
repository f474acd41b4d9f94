#!/usr/bin/env bash
# A Wine prefix that runs Gridmint's Windows builds (the tests of `make test-windows`):
#   scripts/wine/prefix.sh DIR     creates DIR once (wineboot), adds what Wine 8 lacks
# Wine 8 (Debian 12) has no bcryptprimitives.dll, where Rust's standard library (1.78+) takes its
# random bytes: scripts/wine/bcryptprimitives.c provides ProcessPrng from RtlGenRandom.
set -euo pipefail
prefix=${1:?usage: scripts/wine/prefix.sh DIR}
wine=${WINE:-/usr/lib/wine/wine64}
[ -x "$wine" ] || { echo "no Wine at $wine (apt-get install wine64, or make setup)" >&2; exit 1; }
dll=$prefix/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ]; then
  mkdir -p "$prefix"
  WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot --init >/dev/null 2>&1
  WINEPREFIX=$prefix "$(dirname "$wine")/wineserver" -w 2>/dev/null || true
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$(dirname "$0")/bcryptprimitives.c" -ladvapi32
fi
