#!/usr/bin/env bash
# `lanekit tune` on one synthetic MoE lane on the GPU: Qwen3-30B-A3B's shape cut to a few layers
# (random weights, the SmolLM2 tokenizer), a real CUDA llama-server per candidate, Optuna TPE over
# -b / -ub / KV type / -np / flash attention. A memory budget is set between what the 4-slot and
# the 8-slot f16 candidates need, so part of the space is sized out: those candidates must show
# up as `oom_predicted` and never launch. Writes the history/result JSON (and the table) to OUT.
#
#   LLAMA_BIN_DIR=/path/to/build/bin benchmarks/gpu/tune_h200.sh [OUT_DIR]     (default: $OUT, ./tune-out)
#
# Needs a CUDA llama-server in LLAMA_BIN_DIR and Python >= 3.11 with lanekit's dependencies; on a
# box with no registry, carry .whl-tune/ (optuna and its deps, pydantic, gguf: cp312 manylinux
# x86_64 wheels): they are installed from there, no index. Environment (all optional): LAYERS (8),
# QUANT (Q4_K_M), CTX (32768), BUDGET (4m: the search; finalists come after), DONOR (tokenizer GGUF;
# default .device-carry/ or .gpu-carry/donor-smollm2-tokenizer.gguf, else the embedded SmolLM2),
# WORK (/tmp/lanekit-tune), EXTRA (more `lanekit tune` flags).
# Outputs in OUT_DIR: tune.json (TuneResult: every trial, finalists, winner spec), tune.txt (the
# table), tune.png when matplotlib is there, winner.lanes.yaml, sizing.json, tune.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${1:-${OUT:-$PWD/tune-out}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
BIN="${LLAMA_BIN_DIR:?set LLAMA_BIN_DIR to the folder holding a CUDA llama-server}"
WORK="${WORK:-/tmp/lanekit-tune}"
PY="${PYTHON:-python3}"
LAYERS="${LAYERS:-8}" QUANT="${QUANT:-Q4_K_M}" CTX="${CTX:-32768}" BUDGET="${BUDGET:-4m}"
mkdir -p "$WORK"
export LANEKIT_HOME="${LANEKIT_HOME:-$WORK/home}" PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
T0=$SECONDS
log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*" | tee -a "$OUT_DIR/tune.log" >&2; }

log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
[ -x "$BIN/llama-server" ] || { log "missing $BIN/llama-server"; exit 2; }
if ! "$PY" -c "import optuna, pydantic, gguf" 2>/dev/null; then
  [ -d "$REPO/.whl-tune" ] || { log "optuna/pydantic/gguf missing and no .whl-tune/ carried"; exit 2; }
  log "installing the carried wheels (.whl-tune/, no index)"
  PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install -q --no-index --find-links "$REPO/.whl-tune" optuna pydantic gguf 2>&1 | tail -2 >&2
fi
"$PY" -c "import optuna, pydantic, gguf, httpx, psutil, typer, rich, yaml" \
  || { log "lanekit's Python dependencies are missing (see the header of this script)"; exit 2; }

DONOR="${DONOR:-}"
for cand in "$REPO/.device-carry/donor-smollm2-tokenizer.gguf" "$REPO/.gpu-carry/donor-smollm2-tokenizer.gguf"; do
  [ -z "$DONOR" ] && [ -f "$cand" ] && DONOR="$cand"
done
DONOR_ARGS=()
[ -n "$DONOR" ] && DONOR_ARGS=(--donor "$DONOR")

MODEL="$WORK/qwen3-30b-a3b-${LAYERS}l-${QUANT}.gguf"
if [ ! -f "$MODEL" ]; then
  log "synthesising Qwen3-30B-A3B x $LAYERS layers at $QUANT"
  "$PY" -m lanekit.cli.main synth Qwen/Qwen3-30B-A3B --layers "$LAYERS" --quant "$QUANT" \
    "${DONOR_ARGS[@]}" --out "$MODEL" 2>&1 | tail -2 >&2
fi

# The lane, and a memory budget between the 4-slot and the 8-slot f16 needs (the guard's own numbers).
cat > "$WORK/lanes.yaml" <<EOF
lanes:
  - name: moe
    engine: llamacpp
    model: $MODEL
    binary: $BIN/llama-server
    synthetic: true
    ctx: $CTX
    parallel: 1
    gpu_layers: 999
    headroom_bytes: 1073741824
EOF
BUDGET_GIB="$("$PY" - "$WORK/lanes.yaml" <<'PY' | tee "$OUT_DIR/sizing.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["budget_gib"])'
import json, sys
from lanekit.lanes.spec import load_lanes_file
from lanekit.tune import GuardSizer, apply
spec = load_lanes_file(sys.argv[1])["moe"]
need = {np: GuardSizer().size(apply(spec, {"parallel": np, "kv_dtype": "f16", "flash_attn": "on"})).need_bytes
        for np in (1, 4, 8)}
budget = (need[4] + need[8]) / 2
print(json.dumps({"need_bytes": need, "budget_gib": round(budget / (1 << 30), 2)}))
PY
)"
log "memory budget ${BUDGET_GIB} GiB (between -np 4 and -np 8 at f16; see sizing.json)"

log "tuning (search budget $BUDGET, then 2 finalists + the lane as given, 2 rounds each)"
# shellcheck disable=SC2086
"$PY" -m lanekit.cli.main tune moe --lanes-file "$WORK/lanes.yaml" --fresh --objective throughput \
  --budget "$BUDGET" --param threads=4 --param batch=512,2048 --param ubatch=256,512 \
  --param kv_dtype=f16,q8_0 --param parallel=1,4,8 --param flash_attn=on,off --param cache_reuse=0 \
  --param repack=true --finalists 2 --repeats 2 --no-doctor --memory-budget-gib "$BUDGET_GIB" --seed 0 \
  ${EXTRA:-} --json > "$OUT_DIR/tune.json" 2> >(tee -a "$OUT_DIR/tune.log" >&2)

"$PY" - "$OUT_DIR/tune.json" <<'PY' | tee "$OUT_DIR/tune.txt"
import json, sys
from lanekit.tune.result import TuneResult, history_rows, lanes_yaml
r = TuneResult.model_validate(json.load(open(sys.argv[1])))
print(f"{r.lane}: {r.objective} ({r.unit}), {r.launched()} launched of a {r.grid_size}-point grid, "
      f"counts {r.counts()}, stop: {r.stop_reason}")
for row in history_rows(r):
    print("  %-4s %-14s %-8s %s" % row)
for f in r.finalists:
    print(f"  finalist {'(baseline) ' if f.baseline else ''}{f.params} values {f.values} score {f.score} valid {f.valid}")
print(f"winner {r.winner_params} score {r.winner_score} ({r.improvement_pct}% vs the lane as given)")
open(sys.argv[1].replace("tune.json", "winner.lanes.yaml"), "w").write(lanes_yaml(r))
PY
cp "$LANEKIT_HOME"/tune/*.png "$OUT_DIR/" 2>/dev/null || true
log "done in $((SECONDS - T0)) s"
