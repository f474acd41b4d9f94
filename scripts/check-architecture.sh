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
PYTHON="${PYTHON:-python3}"
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
for pkg in gpu-engine gridmint-protocol gridmint-home gridmint-runner gridmint-chain gridmint-peer gridmint-node gridmint-cli gridmint-agent; do
  if deps "$pkg"; then grep -qE '^tauri' <<<"$DEPS" && found+=" $pkg"; else found+=" ($DEPS_ERROR)"; fi
done
if deps gridmint-ui --target wasm32-unknown-unknown; then grep -qE '^tauri' <<<"$DEPS" && found+=" gridmint-ui"; else found+=" ($DEPS_ERROR)"; fi
expect_none "depends on tauri" "${found# }"

check "gridmint-home depends on no internal crate but gridmint-protocol"
if deps gridmint-home; then
  expect_none "gridmint-home depends on" "$(grep -E '^(gpu-engine|gridmint-)' <<<"$DEPS" | grep -vE '^gridmint-(home|protocol)$' | xargs || true)"
else bad "$DEPS_ERROR"; fi

check "gridmint-runner: no chain, peer-to-peer, wallet or store"
if deps gridmint-runner; then
  expect_none "gridmint-runner depends on" "$(grep -E '^(gridmint-|alloy|iroh|rusqlite|keyring|k256)' <<<"$DEPS" | grep -vE '^gridmint-(runner|home|protocol)$' | xargs || true)"
else bad "$DEPS_ERROR"; fi

check "gridmint-peer: no store, wallet keyring, desktop or node"
if deps gridmint-peer; then
  expect_none "gridmint-peer depends on" "$(grep -E '^(gridmint-|rusqlite|keyring|ksni|tauri)' <<<"$DEPS" | grep -vE '^gridmint-(peer|chain|runner|home|protocol)$' | xargs || true)"
else bad "$DEPS_ERROR"; fi

check "the window: protocol and home only; no chain, p2p, GPU, DB, keyring"
if deps gridmint-app; then
  expect_none "gridmint-app depends on" "$(grep -E '^(gpu-engine|gridmint-|alloy|iroh|vulkano|rusqlite|keyring)' <<<"$DEPS" | grep -vE '^gridmint-(app|home|protocol)$' | xargs || true)"
else bad "$DEPS_ERROR"; fi

check "the agent (the tray process) links no webview and no GTK"
if deps gridmint-agent; then
  expect_none "gridmint-agent depends on" "$(grep -E '^(tauri|wry|webkit2gtk|gtk|libappindicator|tray-icon)' <<<"$DEPS" | xargs)"
else bad "$DEPS_ERROR"; fi

check "the agent opens no device itself (device work: --device-worker)"
if matching -rnE 'open_gpu|open_device_slot|hardware_report\(\)|benchmark_with_progress|bench::(open|run)|Gpu::open|DeviceSlot::open|Vulkan::load|Compute::Here' crates/agent/src; then
  expect_none "found" "$MATCHES"
else bad "$MATCHES_ERROR"; fi

check "the node knows nothing of the desktop (tray, idle, local network)"
if matching -rnE 'ksni|notify_rust|auto_launch|idle::|Yielder|LocalMarket|limits::' crates/node/src; then
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


check "no cycle between the modules of a crate"
# A cycle listed here passes; any other fails, and so does a listed one that is gone (then delete
# its line). None today.
known_cycles=""
# shellcheck disable=SC2046
if cycles=$("$PYTHON" scripts/module-cycles.py $(ls -d crates/*/src) gpu-engine/src src-tauri/src ui/src 2>"$log"); then
  new_cycles=$(comm -13 <(sort <<<"$known_cycles") <(sort <<<"$cycles") | sed '/^$/d' | paste -sd ';' -)
  gone=$(comm -23 <(sort <<<"$known_cycles") <(sort <<<"$cycles") | sed '/^$/d' | paste -sd ';' -)
  expect_none "cycles" "${new_cycles:+new: $new_cycles}${gone:+ gone (delete from known_cycles): $gone}"
else bad "module-cycles.py failed: $(tail -5 "$log")"; fi

check "no Rust source file over 800 lines (tests apart)"
# A file allowed over the ceiling is listed here with its own (none today).
declare -A ceiling=()
if files=$(git ls-files '*.rs' 2>"$log" | grep -v '/tests/'); [ -n "$files" ]; then
  over=""
  for f in $files; do
    n=$(awk '/^#\[cfg\(test\)\]/{exit} {n++} END{print n+0}' "$f")
    limit=${ceiling[$f]:-800}
    [ "$n" -gt "$limit" ] && over+=" $f ($n lines, ceiling $limit)"
  done
  expect_none "over" "${over# }"
else bad "git ls-files found no Rust sources: $(tail -5 "$log")"; fi

check "every shell script stops at its first error (set -euo pipefail)"
if scripts=$(git ls-files '*.sh' .ci/run 2>"$log"); [ -n "$scripts" ]; then
  missing=""
  for f in $scripts; do grep -qxE 'set -euo pipefail' "$f" || missing+=" $f"; done
  expect_none "without set -euo pipefail" "${missing# }"
else bad "git ls-files found no scripts: $(tail -5 "$log")"; fi

exit $fail
