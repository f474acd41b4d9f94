#!/usr/bin/env bash
# Checks the "Architecture Invariant" lines of ARCHITECTURE.md. Each check prints what it checks
# and fails with the offending dependency or line, or with the error of the tool it relies on: a
# check whose tool fails is a failed check, never an "ok" (scripts/test-check-architecture.sh
# runs this script with a broken cargo and expects every cargo-based check to FAIL).
#
# No --offline: `make setup` fetched the locked crates, and a standalone run fetches them itself.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
fail=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
check() { printf '  %-70s' "$1"; }
ok() { echo ok; }
bad() { echo FAIL; echo "$*" | sed 's/^/    /'; fail=1; }

# deps PACKAGE [cargo tree args]: the normal (non-dev, non-build) dependencies of PACKAGE, one name a
# line, in $DEPS. Returns non-zero, with cargo's error in $DEPS_ERROR, when cargo tree fails.
deps() {
  local out
  if ! out=$("$CARGO" tree --quiet --locked -p "$1" -e normal --prefix none --format '{p}' "${@:2}" 2>"$log"); then
    DEPS_ERROR="cargo tree -p $1 failed: $(tail -5 "$log")"
    return 1
  fi
  DEPS=$(awk '{print $1}' <<<"$out" | sort -u)
  [ -n "$DEPS" ] || { DEPS_ERROR="cargo tree -p $1 printed nothing (not even the package)"; return 1; }
}

# matching PATTERN-ARGS...: grep's matches in $MATCHES; exit 1 (no match) is an empty list, exit 2
# (a missing folder, a bad pattern) is an error.
matching() {
  local rc=0
  MATCHES=$(grep "$@" 2>"$log") || rc=$?
  if [ $rc -gt 1 ]; then MATCHES_ERROR="grep $* failed: $(cat "$log")"; return 1; fi
  # Code only: comments may say what a part is *not* for.
  MATCHES=$(grep -vE '^[^:]+:[0-9]+:\s*//' <<<"$MATCHES" || true)
}

# expect_none WHAT: ok if $1 (a list) is empty, else bad with it.
expect_none() { if [ -z "$2" ]; then ok; else bad "$1: $2"; fi; }

check "gpu-engine depends on no internal crate"
if deps gpu-engine; then expect_none "gpu-engine depends on" "$(grep -E '^gridmint-' <<<"$DEPS" || true)"; else bad "$DEPS_ERROR"; fi

check "gpu-engine knows nothing of jobs, prices or wallets"
if matching -rniwE 'job|jobs|price|prices|wallet|escrow|payment' gpu-engine/src gpu-engine/shaders; then
  expect_none "found" "$MATCHES"
else bad "$MATCHES_ERROR"; fi

check "gridmint-protocol depends only on serde"
if deps gridmint-protocol; then
  expect_none "gridmint-protocol depends on" "$(grep -vE '^(gridmint-protocol|serde|serde_core|serde_derive|proc-macro2|quote|syn|unicode-ident)$' <<<"$DEPS" | xargs)"
else bad "$DEPS_ERROR"; fi

check "only src-tauri (gridmint-app) depends on tauri"
found=""
for pkg in gpu-engine gridmint-protocol gridmint-chain gridmint-node gridmint-cli gridmint-agent; do
  if deps "$pkg"; then grep -qE '^tauri' <<<"$DEPS" && found+=" $pkg"; else found+=" ($DEPS_ERROR)"; fi
done
if deps gridmint-ui --target wasm32-unknown-unknown; then grep -qE '^tauri' <<<"$DEPS" && found+=" gridmint-ui"; else found+=" ($DEPS_ERROR)"; fi
expect_none "depends on tauri" "${found# }"

check "the agent (the tray process) links no webview and no GTK"
if deps gridmint-agent; then
  expect_none "gridmint-agent depends on" "$(grep -E '^(tauri|wry|webkit2gtk|gtk|libappindicator|tray-icon)' <<<"$DEPS" | xargs)"
else bad "$DEPS_ERROR"; fi

check "the agent opens no device itself (device work: --device-worker)"
if matching -rnE 'open_gpu|open_device_slot|hardware_report\(\)|benchmark_with_progress|gpu_engine::' crates/agent/src; then
  expect_none "found" "$MATCHES"
else bad "$MATCHES_ERROR"; fi

check "the window talks to the network only through the agent"
if matching -rnE 'LocalMarket|Network::connect|wallet::Wallet' src-tauri/src; then
  expect_none "found" "$MATCHES"
else bad "$MATCHES_ERROR"; fi

check "ui depends on no internal crate but gridmint-protocol"
if deps gridmint-ui --target wasm32-unknown-unknown; then
  expect_none "gridmint-ui depends on" "$(grep -E '^(gpu-engine|gridmint-)' <<<"$DEPS" | grep -vE '^gridmint-(ui|protocol)$' | xargs || true)"
else bad "$DEPS_ERROR"; fi

check "contracts reach Rust only through compiled artifacts (contracts/out)"
# A comment may point a reader at a Solidity file.
if matching -rnE 'contracts/(src|test|script)/' --include='*.rs' crates src-tauri gpu-engine ui; then
  expect_none "found" "$MATCHES"
else bad "$MATCHES_ERROR"; fi

check "protocol and ui build for wasm32-unknown-unknown"
if "$CARGO" check --quiet --locked -p gridmint-protocol -p gridmint-ui --target wasm32-unknown-unknown 2>"$log"; then ok; else bad "$(tail -20 "$log")"; fi

exit $fail
