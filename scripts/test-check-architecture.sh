#!/usr/bin/env bash
# The architecture check must fail when the tools it relies on fail: run it with a cargo that always
# fails and with a folder it greps gone, and expect FAIL (never "ok") from every check that uses them.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

broken=$(mktemp -d); trap 'rm -rf "$broken"' EXIT
printf '#!/bin/sh\necho "error: broken cargo (test-check-architecture.sh)" >&2\nexit 101\n' >"$broken/cargo"
chmod +x "$broken/cargo"

rc=0; out=$(CARGO="$broken/cargo" scripts/check-architecture.sh 2>&1) || rc=$?
cargo_checks=$(grep -cE '^  (gpu-engine depends|gridmint-protocol depends|only src-tauri|the agent \(the tray|ui depends|protocol and ui build)' <<<"$out" || true)
cargo_fails=$(grep -E '^  (gpu-engine depends|gridmint-protocol depends|only src-tauri|the agent \(the tray|ui depends|protocol and ui build)' <<<"$out" | grep -c 'FAIL$' || true)
if [ "$rc" -ne 0 ] && [ "$cargo_checks" -eq 6 ] && [ "$cargo_fails" -eq 6 ]; then
  echo "  with a failing cargo: exit $rc, 6 of 6 cargo-based checks FAIL                  ok"
else
  echo "  with a failing cargo: exit $rc, $cargo_fails of $cargo_checks cargo-based checks FAIL   FAIL"; echo "$out" | sed 's/^/    /'; fail=1
fi

# A folder the grep checks read is missing: a copy of the tree without src-tauri/src.
copy=$(mktemp -d); trap 'rm -rf "$broken" "$copy"' EXIT
mkdir -p "$copy/scripts"; cp scripts/check-architecture.sh "$copy/scripts/"
rc=0; out=$(CARGO="$broken/cargo" "$copy/scripts/check-architecture.sh" 2>&1) || rc=$?
if [ "$rc" -ne 0 ] && grep -qE '^  the window talks to the network only through the agent +FAIL$' <<<"$out"; then
  echo "  with a folder missing: the grep check on it FAILs                              ok"
else
  echo "  with a folder missing: no FAIL for the missing src-tauri/src                   FAIL"; echo "$out" | sed 's/^/    /'; fail=1
fi
exit $fail
