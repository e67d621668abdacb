"""Synthetic models in the real llama-server: catalog shapes with few layers load, generate finite
tokens through a `synthetic: true` lane, bench with lanekit's single-stream scenario, and
`lanekit fit` reads back the bytes that were written."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from lanekit.catalog.fit import fit_model
from lanekit.catalog.hardware import get_profile
from lanekit.catalog.models import shape_from_gguf
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane
from lanekit.load.scenarios import run_single
from lanekit.synth import synth_model


def _lane(path, llama_server, name):
    return parse_lane({"name": name, "engine": "llamacpp", "model": str(path), "binary": llama_server, "ctx": 512,
                       "parallel": 1, "threads": 2, "synthetic": True, "warm_timeout_s": 240, "stop_grace_s": 5})


def _probs_are_finite(lane) -> None:
    """The raw completion endpoint returns finite, not-all-equal token probabilities."""
    root = lane.base_url.removesuffix("/v1")
    body = {"prompt": "The", "n_predict": 4, "n_probs": 5, "temperature": 1.0, "ignore_eos": True}
    out = httpx.post(f"{root}/completion", json=body, timeout=120).json()
    steps = out["completion_probabilities"]
    probs = [p["prob"] if "prob" in p else math.exp(p["logprob"])
             for step in steps for p in step.get("top_logprobs") or step.get("top_probs") or []]
    assert probs and all(math.isfinite(p) and 0 <= p <= 1 for p in probs)
    assert len({round(p, 6) for p in probs}) > 1
    assert out["tokens_predicted"] == 4


@pytest.mark.parametrize(("model", "layers", "quant"), [
    ("Qwen/Qwen3-30B-A3B", 2, "Q4_0"),
    ("Qwen/Qwen3-32B", 2, "Q4_0"),
    ("openai/gpt-oss-20b", 1, "MXFP4_MOE"),
])
def test_synthetic_catalog_shape_serves_and_benches(model, layers, quant, tmp_path, llama_server, smollm2_path):
    res = synth_model(model, tmp_path / "synth.gguf", donor=smollm2_path, quant=quant, layers=layers)
    report = fit_model(shape_from_gguf(res.path), get_profile("h100"), ctx=512).to_json()
    assert report["weights_bytes"] == res.weights_bytes and report["active_params"] == res.active_params
    spec = _lane(res.path, llama_server, f"synth-{layers}l")
    assert spec.synthetic is True
    with serve_lane(spec) as lane:
        _probs_are_finite(lane)
        result = run_single(lane.base_url, lane.model_id, samples=1, max_tokens=8, warmup=0, ceiling_tok_s=1e6)
    summary = result.summary
    assert summary["errors"] == 0 and summary["samples"] == 1
    assert summary["osl"] == 8 and summary["decode_tok_s"] > 0
    assert lane.teardown is not None and lane.teardown.verified


def test_model_vocabulary_padded_with_unused_tokens_loads_and_generates(tmp_path, llama_server, smollm2_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "qwen3", "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 64, "hidden_size": 256, "intermediate_size": 512, "vocab_size": 49152 + 64,
        "max_position_embeddings": 4096, "tie_word_embeddings": False}))
    res = synth_model(str(folder), tmp_path / "padded.gguf", donor=smollm2_path, vocab="model", quant="Q8_0")
    assert res.vocab_size == 49216
    with serve_lane(_lane(res.path, llama_server, "synth-padded")) as lane:
        _probs_are_finite(lane)
