# Gridmint: `make run` starts the app on the embedded local network, `make test` runs every suite.
# Both install what is missing first (scripts/setup.sh, idempotent).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

# forge, anvil and cast: the platform binaries themselves. The npm wrappers in node_modules/.bin
# exit 0 when forge fails (measured with forge 1.7.1: a failing test passed `make test`).
FOUNDRY := $(CURDIR)/contracts/node_modules/@foundry-rs
# Tools that `cargo install` put in CARGO_HOME (trunk, wasm-bindgen, tauri-driver).
export PATH := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin:$(FOUNDRY)/forge-linux-amd64/bin:$(FOUNDRY)/anvil-linux-amd64/bin:$(FOUNDRY)/cast-linux-amd64/bin:$(PATH)
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/debug
RELEASE_BIN := $(CARGO_TARGET_DIR)/release
# Tests that need Vulkan, the desktop stack or the keyring fail instead of skipping under make.
export GRIDMINT_REQUIRE_VULKAN := 1
export GRIDMINT_REQUIRE_E2E := 1
export GRIDMINT_REQUIRE_CHAIN := 1
export GRIDMINT_REQUIRE_KEYRING := 1
export GRIDMINT_REQUIRE_REFERENCE := 1
export GRIDMINT_REQUIRE_WAYLAND := 1
# Nothing loads a model from a hub at run time: the references read the weights `make setup` put in the cache.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help setup run app ui contracts test lint test-windows check-macos test-rust test-architecture test-contracts test-ui e2e \
        bench bench-engine bench-workloads bench-gas bench-dispute bench-market bench-e2e bench-chain bench-app bench-yield test-contracts-deep demo package package-windows windows-release clean

help:
	@echo "make run     install what is missing, build, start the desktop app"
	@echo "make test    install what is missing, run every suite"
	@echo "make e2e     the desktop end-to-end suite alone"
	@echo "make bench   benchmarks -> target/bench/*.json"
	@echo "make demo    headless end-to-end demo on a local chain"
	@echo "make package Linux packages of the app"
	@echo "make package-windows  the Windows installer (NSIS), tested under Wine"

setup:
	@scripts/setup.sh

# --- builds -------------------------------------------------------------------------------------
# Every entry point goes through set-up (idempotent): forge, trunk and the crates come from it.
ui: setup
	cd ui && trunk build --release

contracts: setup
	cd contracts && forge build

# The window (gridmint-app) and the agent it starts beside it (gridmint-agent: the tray, the network).
app: ui
	cargo build -p gridmint-agent -p gridmint-app --features gridmint-app/custom-protocol

# --- run ----------------------------------------------------------------------------------------
run: setup app
	@if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "No display: starting Xvfb on :99 (take a screenshot with: DISPLAY=:99 import -window root shot.png)"; \
	  (Xvfb :99 -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &); sleep 1; \
	  export DISPLAY=:99; fi; \
	WEBKIT_DISABLE_DMABUF_RENDERER=1 $(BIN)/gridmint-app

# --- tests --------------------------------------------------------------------------------------
test: setup test-architecture lint test-windows package-windows check-macos test-rust test-contracts test-ui e2e
	@echo "make test: every suite passed"

test-architecture:
	@echo "Architecture invariants (ARCHITECTURE.md):"
	@scripts/check-architecture.sh
	@echo "The check itself fails when its tools fail:"
	@scripts/test-check-architecture.sh

# Every crate under clippy -D warnings: the workspace, the UI for its target, the app as shipped
# (custom-protocol embeds ui/dist, so the UI is built first).
lint: contracts ui
	cargo fmt --all --check
	cargo clippy --workspace --exclude gridmint-app --exclude gridmint-ui --all-targets -- -D warnings
	cargo clippy -p gridmint-ui --target wasm32-unknown-unknown --all-targets -- -D warnings
	cargo clippy -p gridmint-app --features custom-protocol --all-targets -- -D warnings

# Windows (x86_64-pc-windows-gnu, with Debian's mingw-w64): the CLI, the agent and the app build
# clippy-clean for it, the window-agent channel (a named pipe there) passes its tests under Wine,
# the agent's executable check included, and the release gridmint.exe runs a kernel job under Wine
# (Vulkan: llvmpipe through winevulkan) to the Linux CLI's bytes (in a Wine prefix of this
# checkout's, made on first use). See installers/README.md for what is not checked.
WINDOWS := x86_64-pc-windows-gnu
WINDOWS_RELEASE := $(CARGO_TARGET_DIR)/$(WINDOWS)/release
WINE := /usr/lib/wine/wine64
test-windows: contracts windows-release
	cargo clippy --target $(WINDOWS) -p gridmint-home -p gridmint-runner -p gridmint-cli -p gridmint-agent --all-targets -- -D warnings
	cargo clippy --target $(WINDOWS) -p gridmint-app --features custom-protocol --all-targets -- -D warnings
	scripts/wine/prefix.sh $(CURDIR)/target/wine
	WINEPREFIX=$(CURDIR)/target/wine WINEDEBUG=-all CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$(WINE) \
	  cargo test --target $(WINDOWS) -p gridmint-home
	cargo build -p gridmint-cli --bin gridmint
	scripts/wine/test-cli.sh $(WINDOWS_RELEASE)/gridmint.exe $(BIN)/gridmint $(CURDIR)/target/wine

# The release builds for Windows that the installer carries: the window, the agent, the CLI.
windows-release: setup ui
	cargo build --release --target $(WINDOWS) -p gridmint-cli -p gridmint-agent -p gridmint-app --features gridmint-app/custom-protocol

# macOS, as far as Linux can check it: the crates without C dependencies (the window-agent
# channel with its proc_pidpath, the wire types) under clippy for x86_64-apple-darwin. The rest
# needs Apple's toolchain for its C parts (the runner stops at blake3's: Debian's cc has no
# -arch): the first macOS build machine's (installers/README.md).
check-macos: setup
	cargo clippy --target x86_64-apple-darwin -p gridmint-home -p gridmint-protocol --all-targets -- -D warnings

# The chain crate's bindings are generated from contracts/out: build the contracts first.
# Inside a private D-Bus session with gnome-keyring: the wallet tests use the real Secret Service.
test-rust: contracts
	scripts/with-keyring.sh cargo test --no-fail-fast --workspace --exclude gridmint-app --exclude gridmint-ui

test-contracts: setup
	@mkdir -p target/bench
	cd contracts && forge build --sizes --json --skip test --skip script --skip '*/test/**' | node tools/check-sizes.cjs
	cd contracts && node tools/check-interface.cjs
	cd contracts && forge test

# Deeper fuzz and invariant runs (not part of `make test`).
test-contracts-deep: setup
	cd contracts && FOUNDRY_PROFILE=deep forge test

# The UI's pure logic (amounts, labels) on the host; the pages themselves in `e2e`.
test-ui: ui
	cargo test -p gridmint-ui

# Inside a private D-Bus session with gnome-keyring too: the wallet page uses the real keyring.
e2e: setup ui
	cargo build -p gridmint-agent
	scripts/with-keyring.sh cargo test -p gridmint-app --features custom-protocol --test e2e -- --test-threads=1

# --- benchmarks ---------------------------------------------------------------------------------
bench: setup bench-engine bench-workloads bench-gas bench-dispute bench-market bench-e2e bench-chain bench-app bench-yield
	@echo "benchmarks written to target/bench/"

bench-engine: setup
	@mkdir -p target/bench
	@python3 -c "import numpy, threadpoolctl" 2>/dev/null || python3 -m pip install --quiet numpy threadpoolctl
	cargo build --release -p gridmint-cli
	$(RELEASE_BIN)/gridmint bench --json > target/bench/engine.json
	@cat target/bench/engine.json

MODEL_DIR ?= $(or $(GRIDMINT_MODELS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gridmint/models)/all-MiniLM-L6-v2

# Embed 10,000 sentences and train the digits MLP, beside sentence-transformers / PyTorch.
bench-workloads: setup
	@mkdir -p target/bench
	cargo build --release -p gridmint-cli
	python3 scripts/bench/workloads.py $(RELEASE_BIN)/gridmint $(MODEL_DIR) target/bench/workloads.json
	$(RELEASE_BIN)/gridmint bench --generate --json > target/bench/generate.json
	python3 -c "import json; p = 'target/bench/workloads.json'; w = json.load(open(p)); \
	  w['generate'] = json.load(open('target/bench/generate.json')); json.dump(w, open(p, 'w'), indent=2)"

# Submit to verified result: a 100-sentence embedding job, k = 3, anvil with 1-second blocks.
bench-e2e: contracts
	@mkdir -p target/bench
	cargo build --release -p gridmint-cli
	$(RELEASE_BIN)/gridmint demo --json --sentences 100 --claim-window 4 --anvil $(FOUNDRY)/anvil-linux-amd64/bin/anvil > target/bench/e2e.json
	@cat target/bench/e2e.json

# The overhead of segmenting a fine-tuning job (issue #25): a chain of market jobs of one segment
# each on the local network against the same job run in one local process.
bench-chain: setup contracts
	@mkdir -p target/bench
	cargo build --release -p gridmint-cli
	python3 scripts/bench/chain.py $(RELEASE_BIN)/gridmint $(FOUNDRY)/anvil-linux-amd64/bin/anvil $(MODEL_DIR)/.. target/bench/chain.json

# The release app under Xvfb: cold start to a rendered dashboard, memory with the window open and
# closed to the tray (src-tauri/tests/e2e.rs, module `tray`).
bench-app: ui
	@mkdir -p target/bench
	cargo build --release -p gridmint-agent -p gridmint-app --features gridmint-app/custom-protocol
	GRIDMINT_E2E_APP=$(RELEASE_BIN)/gridmint-app GRIDMINT_APP_BENCH=$(CURDIR)/target/bench/app.json \
	  scripts/with-keyring.sh cargo test -p gridmint-app --features custom-protocol --test e2e tray -- --test-threads=1
	@cat target/bench/app.json

# The GPU yield: the time from a user-input event (a real one, through XTEST on an Xvfb display,
# seen by the X11 idle detector) to the GPU being handed back, over 60 trials while a long job runs
# (a real embedding job, and GEMM dispatches); with the .deb's size when `make package` has run.
bench-yield: setup
	cargo build --release -p gridmint-cli
	@mkdir -p target/bench
	python3 scripts/bench/yield.py $(RELEASE_BIN)/gridmint 60

# Receipt gas of whole job lifecycles on a real anvil (crates/chain/examples/gas_bench.rs).
bench-gas: contracts
	@mkdir -p target/bench
	cargo run -q -p gridmint-chain --example gas_bench -- $(FOUNDRY)/anvil-linux-amd64/bin/anvil target/bench/gas.json

# A whole dispute of the court (bisection, jury, verdict) over the trace of a real 4,096-sentence
# embed job: gas, rounds, the jury's compute share -> target/bench/dispute.json.
bench-dispute: setup contracts
	@mkdir -p target/bench
	cargo build --release -p gridmint-cli
	cargo build -q -p gridmint-node --example dispute_bench
	python3 scripts/bench/dispute.py $(RELEASE_BIN)/gridmint $(CARGO_TARGET_DIR)/debug/examples/dispute_bench \
		$(FOUNDRY)/anvil-linux-amd64/bin/anvil target/bench/dispute.json --sentences 4096

# The market's matching (issue #23): how closely the draw of replicas follows the claim weights
# (the contract's own code, 10,000 draws in forge) -> target/bench/market.json.
bench-market: setup contracts
	@mkdir -p target/bench
	rm -f target/bench/selection.json target/bench/challenge.json
	cd contracts && GRIDMINT_BENCH_SELECTION=../target/bench/selection.json \
		forge test --match-test test_selectionShare_followsTheWeightShare_over10000Draws
	cargo run -q -p gridmint-node --example challenge_bench -- target/bench/challenge.json 1024 1000
	python3 scripts/bench/market.py target/bench/selection.json target/bench/challenge.json target/bench/market.json

# --- demo and packages -------------------------------------------------------------------------
# The market on this machine: local chain, three provider processes (one corrupt), a buyer.
demo: setup contracts
	cargo build -p gridmint-cli
	$(BIN)/gridmint demo --anvil $(FOUNDRY)/anvil-linux-amd64/bin/anvil

# Linux packages with the Tauri bundler (its CLI from npm, installers/package.json): the app, its
# agent (the tray), the `gridmint` CLI and the local chain (anvil, as /usr/bin/gridmint-anvil) beside it as Tauri sidecars
# (installers/linux/tauri.linux.json: the Linux bundle settings), the systemd user unit for headless
# providers, the desktop entry. Writes target/bench/package.json (sizes); see installers/README.md.
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
package: setup ui
	cargo build --release -p gridmint-cli -p gridmint-agent
	mkdir -p src-tauri/binaries
	cp $(RELEASE_BIN)/gridmint src-tauri/binaries/gridmint-$(TRIPLE)
	cp $(RELEASE_BIN)/gridmint-agent src-tauri/binaries/gridmint-agent-$(TRIPLE)
	cp $(FOUNDRY)/anvil-linux-amd64/bin/anvil src-tauri/binaries/gridmint-anvil-$(TRIPLE)
	cd src-tauri && ../installers/node_modules/.bin/tauri build --bundles deb,rpm --ci --config ../installers/linux/tauri.linux.json
	@mkdir -p target/bench
	@deb=$$(ls -t $(RELEASE_BIN)/bundle/deb/*.deb | head -1); rpm=$$(ls -t $(RELEASE_BIN)/bundle/rpm/*.rpm | head -1); \
	  printf '{"deb": "%s", "deb_bytes": %d, "rpm": "%s", "rpm_bytes": %d}\n' "$$deb" "$$(stat -c %s "$$deb")" "$$rpm" "$$(stat -c %s "$$rpm")" \
	  | tee target/bench/package.json

# The Windows installer, built here: the release builds above, anvil for Windows (npm), Debian's
# makensis over installers/windows/gridmint.nsi (Tauri's NSIS step downloads NSIS from GitHub).
# Then installed, run, installed again over a running agent and uninstalled under Wine
# (scripts/wine/test-installer.sh). Writes target/bench/package-windows.json (its size).
package-windows: windows-release
	@mkdir -p target/bench
	scripts/package-windows.sh $(WINDOWS_RELEASE) $(WINDOWS_RELEASE)/bundle/nsis > target/bench/package-windows.json
	@cat target/bench/package-windows.json
	scripts/wine/prefix.sh $(CURDIR)/target/wine
	scripts/wine/test-installer.sh "$$(sed -n 's/.*"installer": "\([^"]*\)".*/\1/p' target/bench/package-windows.json)" $(CURDIR)/target/wine

clean:
	cargo clean
	rm -rf ui/dist contracts/out contracts/cache
