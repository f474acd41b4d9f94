#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring Secret Service:
# the real OS keyring, headless. Usage: scripts/with-keyring.sh <command> [args...]
set -euo pipefail
if [ -z "${GRIDMINT_IN_KEYRING_SESSION:-}" ]; then
  export GRIDMINT_IN_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
# A throwaway keyring directory per session: tests never touch the user's own keyring.
export XDG_DATA_HOME="$(mktemp -d)"
printf 'gridmint-test' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
exec "$@"
