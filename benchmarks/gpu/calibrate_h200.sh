#!/usr/bin/env bash
# Calibrate lanekit's decode-speed terms on this GPU (an H200 by default) with `lanekit calibrate`,
# then check them on held-out synthetic models the fit never saw (Qwen3-32B Q4_K_M, Qwen3-30B-A3B
# Q4_K_M, gpt-oss-20b MXFP4, 16 Llama-3.3-70B layers at Q5_K_M) at 1K and 32K depth, single-stream
# through a real llama-server lane. Prints the residuals; the terms come out in the shipped format.
#
#   LLAMA_BIN_DIR=/path/to/build/bin benchmarks/gpu/calibrate_h200.sh [OUT_DIR]    (default: $OUT, ./calibrate-out)
#
# Needs a CUDA llama-server and llama-bench in LLAMA_BIN_DIR, and lanekit's Python dependencies
# (pydantic, gguf, numpy, scipy, httpx, psutil, nvidia-ml-py, typer, rich, pyyaml). Environment
# (all optional): HW (h200), DONOR (tokenizer GGUF; default $REPO/.gpu-carry/donor-smollm2-tokenizer.gguf
# when present, else the embedded SmolLM2 — make one with `lanekit calibrate --write-donor FILE`),
# BUDGET_S (330: measuring stops then, the fit still runs),
# HELD_OUT_DEPTHS (1024,32768), WORK (/tmp/lanekit-calibrate), EXTRA (more `lanekit calibrate` flags).
# Outputs in OUT_DIR: <HW>-llamacpp.json (drop into src/lanekit/catalog/data/speed_terms/ to ship),
# report.json (every measurement, fit and held-out residuals), calibrate.log, summary.txt.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${1:-${OUT:-$PWD/calibrate-out}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
BIN="${LLAMA_BIN_DIR:?set LLAMA_BIN_DIR to the folder holding a CUDA llama-server and llama-bench}"
HW="${HW:-h200}"
WORK="${WORK:-/tmp/lanekit-calibrate}"
PY="${PYTHON:-python3}"
mkdir -p "$WORK"
export LANEKIT_HOME="${LANEKIT_HOME:-$WORK/home}" PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
DONOR="${DONOR:-}"
if [ -z "$DONOR" ] && [ -f "$REPO/.gpu-carry/donor-smollm2-tokenizer.gguf" ]; then
  DONOR="$REPO/.gpu-carry/donor-smollm2-tokenizer.gguf"
fi
DONOR_ARGS=()
[ -n "$DONOR" ] && DONOR_ARGS=(--donor "$DONOR")
T0=$SECONDS
log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*"; }

log "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo none)"
for tool in llama-server llama-bench; do
  [ -x "$BIN/$tool" ] || { log "missing $BIN/$tool"; exit 2; }
done
"$PY" -c "import pydantic, gguf, scipy, httpx, psutil, pynvml, typer, rich, yaml" \
  || { log "lanekit's Python dependencies are missing (see the header of this script)"; exit 2; }

# What will be written and whether these probes pin every term (no GPU time spent).
"$PY" -m lanekit.cli.main calibrate --hw "$HW" --probes gpu --bench "$BIN/llama-bench" \
  --server "$BIN/llama-server" "${DONOR_ARGS[@]}" --dry-run | tail -3

# shellcheck disable=SC2086
"$PY" -m lanekit.cli.main calibrate --hw "$HW" --probes gpu --server "$BIN/llama-server" \
  --bench "$BIN/llama-bench" "${DONOR_ARGS[@]}" --held-out-depths "${HELD_OUT_DEPTHS:-1024,32768}" --work "$WORK/probes" \
  --no-keep --budget-s "${BUDGET_S:-330}" --out "$OUT_DIR/$HW-llamacpp.json" --report "$OUT_DIR/report.json" \
  ${EXTRA:-} 2> >(tee "$OUT_DIR/calibrate.log" >&2) | tee "$OUT_DIR/summary.txt"

"$PY" - "$OUT_DIR/report.json" <<'EOF' | tee -a "$OUT_DIR/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
t = r["terms"] or {}
print(f"\nheld-out single-stream decode through llama-server (target: within 10%)")
for row in r["held_out_residuals"]:
    print(f"  {row['probe']:36s} {row['path']:6s} depth {row['depth']:6d}  measured {row['measured_tok_s']:8.1f}"
          f"  predicted {row['predicted_tok_s']:8.1f}  {row['error_pct']:+6.1f}%")
for depth, s in sorted(r["held_out_by_depth"].items(), key=lambda kv: int(kv[0])):
    print(f"  depth ~{depth}: median |error| {s['median_abs_pct']}%, max {s['max_abs_pct']}%, "
          f"{(s['within_10_pct'] or 0) * 100:.0f}% of rows within 10%")
f = r["fit_summary"]
print(f"fit rows: {f['n']}, median |error| {f['median_abs_pct']}%, max {f['max_abs_pct']}%; "
      f"not pinned: {', '.join(r['unidentified']) or 'none'}; errors: {len(r['errors'])}")
print(f"terms: {json.dumps({k: t.get(k) for k in ('bandwidth_gb_s', 'token_us', 'layer_us', 'expert_us', 'kv_bandwidth_gb_s', 'server_token_us', 'server_vocab_ns')})}")
EOF
log "done; terms in $OUT_DIR/$HW-llamacpp.json"
