"""HTTP prompt log-probs: the same ids and windows as llama.cpp, and endpoints without them refused.

The fake lane is a known bigram model behind httpx.MockTransport: log p(t | prev) =
log_softmax(W[prev])[t], minus a penalty on every position when the window does not start
with BOS, so a missed BOS shows in the number.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from lanekit.errors import EndpointError
from lanekit.quality.chunking import plan_chunks, window_tokens
from lanekit.quality.corpus import Corpus
from lanekit.quality.http_runs import measure_endpoint
from lanekit.quality.result import QualityCfg

V, BOS = 97, 1
W = np.random.default_rng(3).normal(0, 2, size=(V, V))
LOGP = W - np.log(np.exp(W).sum(axis=1, keepdims=True))


def _ids(text: str, special: bool) -> list[int]:
    body = [2 + (ord(c) % (V - 2)) for c in text]
    return [BOS, *body] if special else body


def _prompt_logprobs(ids: list[int], k: int) -> list:
    penalty = 0.0 if ids[0] == BOS else 1.0
    rows: list = [None]
    for pos in range(1, len(ids)):
        lp = LOGP[ids[pos - 1]] - penalty
        top = np.argsort(-lp)[:k].tolist()
        keep = set(top) | {ids[pos]}
        rows.append({str(t): {"logprob": float(lp[t]), "rank": 1} for t in keep})
    return rows


def _vllm(mode: str = "ok"):
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/tokenize":
            return httpx.Response(200, json={"tokens": _ids(body["prompt"], body["add_special_tokens"])})
        if mode == "llama-server" and body.get("echo"):
            return httpx.Response(400, json={"error": {"message": "Only no echo is supported"}})
        choice = {"text": "x", "logprobs": None}
        if mode == "ok" and "prompt_logprobs" in body:
            choice["prompt_logprobs"] = _prompt_logprobs(body["prompt"], body["prompt_logprobs"])
        if mode == "truncated" and "prompt_logprobs" in body:
            choice["prompt_logprobs"] = _prompt_logprobs(body["prompt"], 5)[:-3]
        return httpx.Response(200, json={"choices": [choice]})
    return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://lane")


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    text = ("In the beginning was the word, and the word was long enough to score. " * 40)
    path = tmp_path / "c.txt"
    path.write_text(text)
    return Corpus("c.txt", path, "0" * 64, len(text), "test")


def _reference_ppl(text: str, n_ctx: int, stride: int | None) -> tuple[float, int]:
    stream = _ids(text, True)
    plan = plan_chunks(len(stream), n_ctx, stride=stride)
    nll = []
    for w in plan.windows:
        ids = window_tokens(stream, w, add_bos=True, bos_id=BOS)
        nll += [-LOGP[ids[p - 1], ids[p]] for p in range(w.first + 1, n_ctx)]
    return float(np.exp(np.mean(nll))), len(nll)


@pytest.mark.parametrize("stride", [None, 32])
def test_vllm_prompt_logprobs_give_the_reference_ppl_on_bos_windows(corpus, stride):
    cfg = QualityCfg(ctx=64, chunks=None, stride=stride)
    res = measure_endpoint("http://lane/v1", "m", cfg, corpus, shape="vllm", engine="vllm", client=_vllm())
    want, n = _reference_ppl(corpus.text(), 64, stride)
    assert res.ppl.ppl == pytest.approx(want, rel=1e-9)
    assert res.ppl.n_scored == n and res.add_bos is True
    assert res.corpus_sha256 == "0" * 64 and len(res.tokens_sha256 or "") == 64
    assert res.ppl.convention == ("llama.cpp" if stride is None else "overlap(stride=32)")


def test_an_endpoint_that_answers_without_prompt_logprobs_is_refused(corpus):
    with pytest.raises(EndpointError, match="0 prompt log-probs for 63 prompt tokens"):
        measure_endpoint("http://lane/v1", "m", QualityCfg(ctx=64), corpus, shape="vllm", engine="vllm",
                         client=_vllm("silent"))
    with pytest.raises(EndpointError, match="prompt log-probs"):
        measure_endpoint("http://lane/v1", "m", QualityCfg(ctx=64), corpus, shape="echo", engine="x",
                         client=_vllm("silent"))


def test_missing_positions_are_refused_not_averaged_over(corpus):
    with pytest.raises(EndpointError, match="for 63 prompt tokens"):
        measure_endpoint("http://lane/v1", "m", QualityCfg(ctx=64), corpus, shape="vllm", engine="vllm",
                         client=_vllm("truncated"))


def test_a_server_that_rejects_echo_points_at_llama_perplexity(corpus):
    with pytest.raises(EndpointError) as exc:
        measure_endpoint("http://lane/v1", "m", QualityCfg(ctx=64), corpus, shape="echo", engine="x",
                         client=_vllm("llama-server"))
    assert "Only no echo" in exc.value.message and "llama-perplexity" in (exc.value.fix or "")
