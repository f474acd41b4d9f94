#!/usr/bin/env bash
# The GPU-machine benchmark run behind the H100 and H200 rows of bench/RESULTS.md. That machine has
# no Rust toolchain and no network, so what it runs is built here by scripts/bench/device-prepare.sh
# and travels in .devrun/ (git-ignored):
#   gridmint                    cargo build --release -p gridmint-cli (stripped)
#   engine-tests                cargo test --release -p gpu-engine --test engine --no-run
#   encoder_profile             cargo build --release -p gpu-engine --example encoder_profile
#   gemm_layouts                cargo build --release -p gpu-engine --example gemm_layouts
#   determinism-llvmpipe.txt    gridmint bench --determinism, here
#   determinism-cpu-reference.txt  gridmint bench --determinism --cpu-reference
#   model/                      all-MiniLM-L6-v2's small files (config, tokenizer), no weights
#   lib/                        the shared libraries gridmint links, used only if the image lacks them
# packed as .devrun/pack.tar.xz and unpacked here; .gl/ holds Debian's libvulkan1 (and libglvnd)
# .debs. Results land in $OUT.
# A dry run on llvmpipe: OUT=/tmp/out SENTENCES=200 scripts/bench/device-run.sh
# ENGINE_ONLY=1: the determinism suite, the engine benchmark and the engine tests alone.
set -euo pipefail
# A step that fails is reported and counted, and the run goes on to the next (each reading is
# worth having); the exit status says whether any failed.
failures=0
failed() { echo "!!! FAILED: $*"; failures=$((failures + 1)); }
D=$PWD/.devrun
if [ -f "$D/pack.tar.xz" ]; then
  # Unpacked outside the tree, so that a dry run here leaves .devrun small enough to carry.
  U=$(mktemp -d)
  tar -C "$U" -xJf "$D/pack.tar.xz" || { echo "!!! the carried binaries did not unpack"; exit 1; }
  D=$U
fi
OUT=${OUT:-/tmp/gridmint-device-out}
SENTENCES=${SENTENCES:-10000}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }

if command -v nvidia-smi >/dev/null; then
  # The image has no Vulkan loader: unpack Debian's (carried in .gl/), point it at the driver.
  shopt -s nullglob
  for f in .gl/*.deb; do dpkg -x "$f" / || failed "unpacking $f"; done
  shopt -u nullglob
  ldconfig || failed ldconfig
  [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || failed nvidia-smi
fi
if ldd "$D/gridmint" | grep -q "not found"; then export LD_LIBRARY_PATH=$D/lib; fi
export GRIDMINT_REQUIRE_VULKAN=1

step devices
timeout 30 "$D/gridmint" gpus || failed devices

step "determinism suite"
timeout 90 "$D/gridmint" bench --determinism | tee "$OUT/determinism.txt" || failed "determinism suite"
echo "--- against llvmpipe (unfused GEMM and workloads; lines that differ):"
if { grep -v -e "-fused " "$D/determinism-llvmpipe.txt" || true; } | diff - <(grep -v -e "-fused " "$OUT/determinism.txt" || true); then
  echo identical
else failed "determinism: differs from llvmpipe"; fi
echo "--- fused GEMM against the CPU reference (Rust mul_add):"
if { grep -e "-fused " "$D/determinism-cpu-reference.txt" || true; } | diff - <(grep -e "-fused " "$OUT/determinism.txt" || true); then
  echo identical
else failed "determinism: fused GEMM differs from the CPU reference"; fi

step "engine benchmark"
timeout 150 "$D/gridmint" bench --json > "$OUT/engine.json" || failed "engine benchmark"
cat "$OUT/engine.json"

if [ -n "${ENGINE_ONLY:-}" ]; then
  step "GEMM layouts at 4096³, interleaved, both classes"
  timeout 90 "$D/gemm_layouts" "${LAYOUT_N:-4096}" 3 "${LAYOUTS:-tiled64,wide128x8,wide128x8s2,wide128x8v,wide128x8s2v,wide128x16,wide128x16s2,wide128x16v,wide128x16s2v}" |
    tee "$OUT/layouts.txt" || failed "GEMM layouts"
  if [ -n "${LAYOUTS2:-}" ]; then
    # Layouts whose builds may be slow (the 16-deep ones took 60 s per fused pipeline once), apart,
    # so that a timeout here loses none of the readings above.
    step "more GEMM layouts: $LAYOUTS2"
    timeout "${LAYOUTS2_S:-75}" "$D/gemm_layouts" "${LAYOUT_N:-4096}" 2 "$LAYOUTS2" | tee "$OUT/layouts2.txt" || failed "more GEMM layouts"
  fi
  step "engine tests on this device (GPU output == CPU reference, bit for bit)"
  timeout "${TEST_S:-150}" "$D/engine-tests" --test-threads=4 2>&1 | tail -50 || failed "engine tests"
  step "done: $failures step(s) failed"
  exit $((failures > 0 ? 1 : 0))
fi

step "workloads: embed $SENTENCES sentences (seeded MiniLM-shaped weights) and train digits"
MODELS=/tmp/gridmint-models
python3 scripts/bench/seeded_model.py "$D/model" "$MODELS/all-MiniLM-L6-v2" --seed 0 || failed "seeded model"
GRIDMINT_MODELS=$MODELS timeout 240 python3 scripts/bench/workloads.py "$D/gridmint" "$MODELS/all-MiniLM-L6-v2" \
  "$OUT/workloads.json" --sentences "$SENTENCES" || failed workloads
if command -v nvidia-smi >/dev/null; then
  step "embed with 4096-token batches"
  GRIDMINT_MODELS=$MODELS timeout 150 python3 scripts/bench/workloads.py "$D/gridmint" "$MODELS/all-MiniLM-L6-v2" \
    "$OUT/workloads-4k.json" --sentences "$SENTENCES" --batch-tokens 4096 --epochs 2 || failed "workloads, 4096-token batches"
fi

step "engine tests on this device (GPU output == CPU reference, bit for bit)"
timeout 120 "$D/engine-tests" --test-threads=2 2>&1 | tail -25 || failed "engine tests"

step "encoder layer profile"
timeout 60 "$D/encoder_profile" 16384 32 || failed "encoder profile"
step "done: $failures step(s) failed"
exit $((failures > 0 ? 1 : 0))
