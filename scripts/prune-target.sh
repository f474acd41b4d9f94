#!/usr/bin/env bash
# Keep a cached cargo target directory from filling the disk (a full disk kills `ld` with SIGBUS).
# Every commit builds the workspace's crates under new hashes while the old ones stay behind, so:
#   1. over KEEP_GIB, or with under FREE_GIB free: drop the workspace's own artifacts (the
#      dependencies, most of the build time, stay);
#   2. still under FREE_GIB free: drop the whole directory.
# Usage: scripts/prune-target.sh TARGET_DIR
set -euo pipefail
dir="${1:?usage: prune-target.sh TARGET_DIR}"
keep_gib="${GRIDMINT_TARGET_KEEP_GIB:-30}"
free_gib_min="${GRIDMINT_TARGET_FREE_GIB:-20}"
[ -d "$dir" ] || exit 0

size_gib() { du -s --block-size=1G "$dir" 2>/dev/null | cut -f1; }
free_gib() { df --output=avail --block-size=1G "$dir" | tail -1 | tr -d ' '; }

size=$(size_gib); free=$(free_gib)
echo "target cache $dir: ${size} GiB, ${free} GiB free on its disk"
if [ "$size" -gt "$keep_gib" ] || [ "$free" -lt "$free_gib_min" ]; then
  echo "target cache: dropping the workspace's own artifacts and incremental state"
  rm -rf "$dir"/debug/incremental "$dir"/release/incremental
  # The workspace's own packages (no registry needed for --no-deps). A failed step says so and
  # leaves the rest to the last resort below (removing the whole directory when space is short).
  if ! packages=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"]))'); then
    echo "target cache: cannot list the workspace's packages; not pruning them" >&2
    packages=""
  fi
  for p in $packages; do
    for profile in "" --release; do
      CARGO_TARGET_DIR="$dir" cargo clean --quiet $profile -p "$p" ||
        echo "target cache: cargo clean $profile -p $p failed" >&2
    done
  done
  size=$(size_gib); free=$(free_gib)
  echo "target cache: now ${size} GiB, ${free} GiB free"
fi
if [ "$free" -lt "$free_gib_min" ]; then
  echo "target cache: still under ${free_gib_min} GiB free, removing it"
  rm -rf "$dir"
fi
