"""The checks behind benchmarks/gpu/cuda_install_check.sh, one JSON document per phase.

  cuda MODEL INSTALL_RC INSTALL_LOG            the installed (CUDA) llama-server: its build verdict, and
                                               two lanes that offload MODEL (-ngl 999; default verbosity
                                               and -lv 4), each judged by the doctor's backend check
  cpu MODEL BINARY INSTALL_RC INSTALL_LOG      a CPU-only llama-server on the GPU box: the lane guard
                                               refuses it and the doctor fails a running one, both with
                                               the rebuild fix
  summary OUT_DIR                              one PASS/FAIL line per check of every phase's JSON

Every step's failure is recorded in the JSON (never raised), so the summary names the step.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def _doctor_backend(base_url: str, model: str | None = None) -> dict:
    from lanekit.doctor import run_doctor

    report = run_doctor(base_url, model, engine="llamacpp", only=["backend"], timeout_s=60)
    return report.check("backend").model_dump()


def phase_cuda(model: str, install_rc: int, install_log: str) -> dict:
    """The CUDA build the install left behind, and lanes that offload to the GPU."""
    from lanekit.lanes import Lane, parse_lane
    from lanekit.lanes.backend import build_devices, check_build, parse_offload
    from lanekit.lanes.build_plan import installed_build, plan_build
    from lanekit.lanes.engines.llamacpp import find_llama_server

    log = Path(install_log).read_text(errors="replace")
    out: dict = {"phase": "cuda", "plan": plan_build().model_dump(), "installed": installed_build(),
                 "install_rc": install_rc, "install_said_cuda": "engine: CUDA build" in log, "lanes": []}
    try:
        binary = find_llama_server()
        out.update(binary=binary, devices=build_devices(binary), build_verdict=check_build(binary).model_dump())
    except Exception as exc:  # noqa: BLE001  (recorded: the summary says which step failed)
        out.update(binary=None, devices=None, build_verdict={"status": "error", "detail": f"{exc}"})
    for label, extra in (("default verbosity", []), ("-lv 4", ["-lv", "4"])):
        row: dict = {"label": label}
        if out["binary"] is None:
            row["error"] = "no llama-server installed"
            out["lanes"].append(row)
            continue
        spec = parse_lane({"name": f"offload{len(out['lanes'])}", "engine": "llamacpp", "model": model,
                           "ctx": 4096, "gpu_layers": 999, "synthetic": True, "extra_args": extra})
        lane = Lane(spec)
        try:
            t0 = time.monotonic()
            lane.up(300)
            row["ready_s"] = round(time.monotonic() - t0, 1)
            row["doctor_backend"] = _doctor_backend(lane.base_url, lane.model_id)
            row["log_offload"] = parse_offload(Path(lane.log_path).read_text(errors="replace")).model_dump()
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            lane.stop()
        out["lanes"].append(row)
    out["pass"] = {
        "install_built_cuda": install_rc == 0 and out["install_said_cuda"]
        and (out["installed"] or {}).get("backend") == "cuda",
        "build_lists_a_gpu": bool(out["devices"]),
        "build_verdict_pass": out["build_verdict"]["status"] == "pass",
        "lanes_offload_and_doctor_passes": all(r.get("doctor_backend", {}).get("status") == "pass"
                                               for r in out["lanes"]),
        "log_counts_layers_at_lv4": (out["lanes"][-1].get("log_offload") or {}).get("offloaded_layers") is not None,
    }
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_by_hand(binary: str, model: str) -> tuple[subprocess.Popen, str]:
    """The CPU-only binary started by hand (not by lanekit): the doctor must find it by its port."""
    import httpx

    port = _free_port()
    proc = subprocess.Popen([binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-c", "4096",
                             "-ngl", "999"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}/v1"


def phase_cpu(model: str, binary: str, install_rc: int, install_log: str) -> dict:
    """A CPU-only build on the GPU box: the install, the guard and the doctor each fail it with the fix."""
    from lanekit.errors import LanekitError
    from lanekit.lanes import Lane, parse_lane
    from lanekit.lanes.backend import REBUILD_FIX, build_devices

    log = Path(install_log).read_text(errors="replace")
    out: dict = {"phase": "cpu", "binary": binary, "devices": build_devices(binary), "install_rc": install_rc,
                 "install_named_the_fix": "CPU-only" in log and "./install.sh" in log}
    spec = parse_lane({"name": "cpu-bin", "engine": "llamacpp", "model": model, "binary": binary, "ctx": 4096})
    try:
        Lane(spec).check()
        out["guard"] = "allowed"
    except LanekitError as exc:
        out["guard"] = {"message": exc.message, "fix": exc.fix}
    proc, base_url = _serve_by_hand(binary, model)
    try:
        out["doctor_backend"] = _doctor_backend(base_url)
    except Exception as exc:  # noqa: BLE001
        out["doctor_backend"] = {"status": "error", "detail": f"{type(exc).__name__}: {exc}", "fix": None}
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    out["pass"] = {
        "cpu_build_lists_no_gpu": out["devices"] == [],
        "install_fails_with_the_fix": install_rc != 0 and out["install_named_the_fix"],
        "guard_refuses": isinstance(out["guard"], dict) and out["guard"]["fix"] == REBUILD_FIX,
        "doctor_fails_with_the_fix": out["doctor_backend"]["status"] == "fail"
        and out["doctor_backend"]["fix"] == REBUILD_FIX,
    }
    return out


def summary(out_dir: str) -> int:
    """Print one line per check; 0 when every check of every phase passed."""
    ok, seen = True, 0
    for path in sorted(Path(out_dir).glob("cuda_install_check-*.json")):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            print(f"{path.name}: no JSON (the phase crashed; see log.txt)")
            ok = False
            continue
        seen += 1
        for name, passed in doc["pass"].items():
            print(f"{'PASS' if passed else 'FAIL'}  {doc['phase']:4}  {name}")
            ok &= bool(passed)
        for lane in doc.get("lanes", []):
            print(f"      lane ({lane['label']}): {lane.get('doctor_backend', {}).get('detail') or lane.get('error')}")
        if "doctor_backend" in doc:
            print(f"      doctor: {doc['doctor_backend']['detail']}")
    ok &= seen > 0
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    """Dispatch a phase; the phase's JSON goes to stdout."""
    cmd, args = argv[0], argv[1:]
    if cmd == "summary":
        return summary(args[0])
    doc = phase_cuda(args[0], int(args[1]), args[2]) if cmd == "cuda" else phase_cpu(args[0], args[1], int(args[2]),
                                                                                       args[3])
    print(json.dumps(doc, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
