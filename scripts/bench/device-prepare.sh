#!/usr/bin/env bash
# Builds what scripts/bench/device-run.sh carries to the GPU machine (no Rust toolchain there, no
# network) into target/devrun/, and the llvmpipe and CPU-reference determinism lists it compares the
# GPU's against, and packs them as .devrun/pack.tar.xz (git-ignored; about 16 MB where the files are
# 60, and the device tool carries at most 64 MiB). Run here, then on the GPU machine, with .devrun
# and .gl carried:
#   ENGINE_ONLY=1 scripts/bench/device-run.sh
# lib/ (shared libraries the image may lack) and model/ (MiniLM's small files) are filled once:
# lib/ from `ldd target/devrun/gridmint`, model/ from the MiniLM download (`make models`).
set -euo pipefail
export CARGO_INCREMENTAL=0
D=target/devrun
mkdir -p "$D/lib" "$D/model"
cargo build --release -p gridmint-cli
cargo build --release -p gpu-engine --example encoder_profile --example gemm_layouts
tests=$(cargo test --release -p gpu-engine --test engine --no-run --message-format=json |
  jq -r 'select(.executable != null and .target.name == "engine") | .executable')
cp target/release/gridmint target/release/examples/encoder_profile target/release/examples/gemm_layouts "$D/"
cp "$tests" "$D/engine-tests"
strip "$D/gridmint" "$D/encoder_profile" "$D/gemm_layouts" "$D/engine-tests"
if [ -z "$(ls -A "$D/lib")" ]; then
  ldd "$D/gridmint" | awk '/=> \// {print $3}' | grep -v -e libc.so -e libm.so -e libgcc_s -e ld-linux -e libvulkan |
    xargs -r cp -L -t "$D/lib"
fi
if [ -z "$(ls -A "$D/model")" ]; then
  src=${GRIDMINT_MODELS:-$HOME/.cache/gridmint/models}/all-MiniLM-L6-v2
  (cd "$src" && find . -type f ! -name '*.safetensors' ! -name '*.bin' ! -name '*.onnx' -exec cp --parents -t "$OLDPWD/$D/model" {} +)
fi
GRIDMINT_REQUIRE_VULKAN=1 "$D/gridmint" bench --determinism > "$D/determinism-llvmpipe.txt"
"$D/gridmint" bench --determinism --cpu-reference > "$D/determinism-cpu-reference.txt"
mkdir -p .devrun
rm -f .devrun/pack.tar.xz
tar -C "$D" -cf - . | xz -T0 -6 > .devrun/pack.tar.xz
du -sh "$D" .devrun/pack.tar.xz
