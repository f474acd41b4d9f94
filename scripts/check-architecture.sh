#!/usr/bin/env bash
# Checks the "Architecture Invariant" lines of ARCHITECTURE.md. Each check prints what it checks
# and fails with the offending dependency or line.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
check() { printf '  %-70s' "$1"; }
ok() { echo ok; }
bad() { echo FAIL; echo "    $*"; fail=1; }

deps() { # normal (non-dev, non-build) dependencies of a package, one "name" per line
  cargo tree --quiet --offline -p "$1" -e normal --prefix none --format '{p}' "${@:2}" | awk '{print $1}' | sort -u
}

check "gpu-engine depends on no internal crate"
out=$(deps gpu-engine | grep -E '^gridmint-' || true)
[ -z "$out" ] && ok || bad "gpu-engine depends on: $out"

check "gpu-engine knows nothing of jobs, prices or wallets"
# Code only: comments may say what the engine is *not* for.
out=$(grep -rniwE 'job|jobs|price|prices|wallet|escrow|payment' gpu-engine/src gpu-engine/shaders | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$out" ] && ok || bad "$out"

check "gridmint-protocol depends only on serde"
out=$(deps gridmint-protocol | grep -vE '^(gridmint-protocol|serde|serde_core|serde_derive|proc-macro2|quote|syn|unicode-ident)$' || true)
[ -z "$out" ] && ok || bad "gridmint-protocol depends on: $(echo $out)"

check "only src-tauri (gridmint-app) depends on tauri"
before=$fail
for pkg in gpu-engine gridmint-protocol gridmint-chain gridmint-node gridmint-cli gridmint-agent; do
  if deps "$pkg" | grep -qE '^tauri'; then bad "$pkg depends on tauri"; fi
done
if deps gridmint-ui --target wasm32-unknown-unknown | grep -qE '^tauri'; then bad "gridmint-ui depends on tauri"; fi
[ $fail -eq "$before" ] && ok

check "the agent (the tray process) links no webview and no GTK"
out=$(deps gridmint-agent | grep -E '^(tauri|wry|webkit2gtk|gtk|libappindicator|tray-icon)' || true)
[ -z "$out" ] && ok || bad "gridmint-agent depends on: $(echo $out)"

check "the agent opens no device itself (device work: --device-worker)"
out=$(grep -nE 'open_gpu|open_device_slot|hardware_report\(\)|benchmark_with_progress|gpu_engine::' crates/agent/src/*.rs | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$out" ] && ok || bad "$out"

check "the window talks to the network only through the agent"
out=$(grep -nE 'LocalMarket|Network::connect|wallet::Wallet' src-tauri/src/*.rs | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$out" ] && ok || bad "$out"

check "ui depends on no internal crate but gridmint-protocol"
out=$(deps gridmint-ui --target wasm32-unknown-unknown | grep -E '^(gpu-engine|gridmint-)' | grep -vE '^gridmint-(ui|protocol)$' || true)
[ -z "$out" ] && ok || bad "gridmint-ui depends on: $out"

check "contracts reach Rust only through compiled artifacts (contracts/out)"
# Code only: a comment may point a reader at a Solidity file.
out=$(grep -rnE 'contracts/(src|test|script)/' --include='*.rs' crates src-tauri gpu-engine ui | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
[ -z "$out" ] && ok || bad "$out"

check "protocol and ui build for wasm32-unknown-unknown"
if cargo check --quiet --offline -p gridmint-protocol -p gridmint-ui --target wasm32-unknown-unknown 2>/tmp/gridmint-wasm-check.log; then ok; else bad "$(tail -20 /tmp/gridmint-wasm-check.log)"; fi

exit $fail
