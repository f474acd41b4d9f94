#!/usr/bin/env bash
# The Windows CLI under Wine: `gridmint.exe --help`, and a job package run (the saxpy kernel, on
# llvmpipe through Wine's Vulkan) to the same result root and output bytes as the Linux CLI's run.
#   scripts/wine/test-cli.sh WINDOWS_EXE LINUX_EXE WINE_PREFIX
# Wine's Vulkan needs a display driver, so the Windows run gets an Xvfb of its own.
set -euo pipefail
win=${1:?usage: scripts/wine/test-cli.sh WINDOWS_EXE LINUX_EXE WINE_PREFIX} linux=${2:?} prefix=${3:?}
wine=${WINE:-/usr/lib/wine/wine64}
job=$(cd "$(dirname "$0")/../.." && pwd)/examples/kernel-saxpy
work=$(mktemp -d)
display=":$((300 + $$ % 300))"
Xvfb "$display" -screen 0 800x600x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1
export WINEPREFIX=$prefix WINEDEBUG=-all DISPLAY=$display

"$wine" "$win" --help > "$work/help.txt"
grep -q "Usage: gridmint.exe" "$work/help.txt" || { echo "gridmint.exe --help: no usage" >&2; cat "$work/help.txt" >&2; exit 1; }
echo "gridmint.exe --help: ok"

"$wine" "$win" run "$job" --out "Z:$work/windows" > "$work/windows.txt"
"$linux" run "$job" --out "$work/linux" > "$work/linux.txt"
root() { sed -n 's/^ *result root: *//p' "$1"; }
win_root=$(root "$work/windows.txt") linux_root=$(root "$work/linux.txt")
[ -n "$win_root" ] || { echo "gridmint.exe run printed no result root" >&2; cat "$work/windows.txt" >&2; exit 1; }
[ "$win_root" = "$linux_root" ] || { echo "result roots differ: Windows $win_root, Linux $linux_root" >&2; exit 1; }
for f in "$work/linux"/*; do
  name=$(basename "$f")
  [ "$name" = result.json ] && continue
  cmp "$f" "$work/windows/$name" || { echo "$name differs between the Windows and the Linux run" >&2; exit 1; }
done
echo "gridmint.exe run examples/kernel-saxpy: result root $win_root, the Linux run's bytes"
