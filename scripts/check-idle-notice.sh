#!/usr/bin/env bash
# Manual check (not part of `make test`: it waits 75 s and needs a notification daemon, dunst):
# with "earn only while away" at 1 minute, the app shows its notice before work starts.
#
#   apt install dunst && scripts/check-idle-notice.sh [path/to/gridmint-app]
set -euo pipefail
app=${1:-${CARGO_TARGET_DIR:-target}/debug/gridmint-app}
work=$(mktemp -d); mkdir -p "$work/home" "$work/gm/data"
echo '{"startAtLogin": false, "earnOnlyWhenIdle": true, "idleMinutes": 1}' > "$work/gm/data/settings.json"
display=:$((600 + $$ % 200))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 & xvfb=$!
cleanup() {
  kill "$xvfb" 2>/dev/null || true
  fusermount -u "$work/home/.cache/doc" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1
export DISPLAY=$display HOME="$work/home" GRIDMINT_HOME="$work/gm" WEBKIT_DISABLE_DMABUF_RENDERER=1
dbus-run-session -- bash -c '
  dunst >/dev/null 2>&1 & sleep 1
  "$0" > "$1/app.log" 2>&1 & app=$!
  sleep 75
  dunstctl history | python3 -c "
import json, sys
for n in json.load(sys.stdin)[\"data\"][0]:
    print(\"notification:\", n[\"appname\"][\"data\"], \"|\", n[\"summary\"][\"data\"], \"|\", n[\"body\"][\"data\"])
"
  kill $app; sleep 2
' "$app" "$work"
