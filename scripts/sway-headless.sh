#!/usr/bin/env bash
# Runs a headless sway (no GPU: pixman; no input devices) whose sockets land in DIR, for the
# Wayland tests: scripts/sway-headless.sh DIR  (DIR must be reachable: not inside a 0700 folder).
# sway refuses to run as root: as root, it runs as `nobody`, DIR made theirs. It execs sway, so
# the caller's child process is sway itself.
set -euo pipefail
dir=${1:?usage: scripts/sway-headless.sh DIR}
command -v sway >/dev/null || { echo "no sway (apt-get install sway, or make setup)" >&2; exit 127; }
# Made here, never reused: DIR may sit in a shared /tmp, and a link planted there would otherwise
# have this script (root, in CI) change and write through it. rm -rf removes a link, not its target.
rm -rf -- "$dir"
mkdir -m 700 -- "$dir"
printf 'output HEADLESS-1 resolution 1280x860\n' > "$dir/config"
export XDG_RUNTIME_DIR=$dir HOME=$dir WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman
unset WAYLAND_DISPLAY DISPLAY
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$dir"
  exec setpriv --reuid=65534 --regid=65534 --clear-groups sway --config "$dir/config"
fi
exec sway --config "$dir/config"
