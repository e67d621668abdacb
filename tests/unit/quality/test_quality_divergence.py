"""KLD / top-1 / PPL arithmetic against independent references, and llama.cpp's log-prob file."""

from __future__ import annotations

import numpy as np
import pytest

from lanekit.errors import ConfigError
from lanekit.quality.divergence import DivergenceAccumulator, perplexity_of
from lanekit.quality.logits_dump import read_dump, write_dump


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


@pytest.fixture
def known():
    """Two 512-token chunks, vocab 64, with known logits for base and lane."""
    rng = np.random.default_rng(7)
    n_ctx, vocab, n_chunk = 512, 64, 2
    tokens = rng.integers(0, vocab, size=n_ctx * n_chunk).astype(np.int32)
    base = [rng.normal(0, 3, size=(255, vocab)).astype(np.float32) for _ in range(n_chunk)]
    lane = [b + rng.normal(0, 0.5, size=b.shape).astype(np.float32) for b in base]
    return n_ctx, tokens, base, lane


def test_ppl_matches_the_reference_within_1e6_on_known_logits(known):
    n_ctx, tokens, base, lane = known
    targets = [tokens[i * n_ctx + 257:(i + 1) * n_ctx] for i in range(2)]
    assert all(t.size == 255 for t in targets)  # 255 tokens per chunk at n_ctx 512
    acc = DivergenceAccumulator()
    for b, q, t in zip(base, lane, targets):
        acc.add_full(_log_softmax(b), _log_softmax(q), t)
    ref_nll = np.concatenate([-_log_softmax(q)[np.arange(255), t] for q, t in zip(lane, targets)])
    assert acc.stats()["ppl"] == pytest.approx(float(np.exp(ref_nll.mean())), rel=1e-6)
    assert acc.stats()["n_tokens"] == 510
    assert perplexity_of(ref_nll)[0] == pytest.approx(float(np.exp(ref_nll.mean())), rel=1e-12)


def test_kld_and_top1_match_direct_formulas(known):
    n_ctx, tokens, base, lane = known
    acc = DivergenceAccumulator()
    kl, same = [], 0
    for i, (b, q) in enumerate(zip(base, lane)):
        lb, lq = _log_softmax(b), _log_softmax(q)
        acc.add_full(lb, lq, tokens[i * n_ctx + 257:(i + 1) * n_ctx])
        pb = np.exp(lb)
        kl.append((pb * (lb - lq) * (lb > -16)).sum(axis=1))
        same += int((b.argmax(1) == q.argmax(1)).sum())
    s = acc.stats()
    assert s["kld_mean"] == pytest.approx(float(np.concatenate(kl).mean()), rel=1e-6)
    assert s["same_top"] == pytest.approx(same / 510)
    assert 0 < s["same_top"] < 1


def test_topk_kld_is_a_lower_bound_and_exact_with_the_whole_vocab(known):
    n_ctx, tokens, base, lane = known
    lb, lq = _log_softmax(base[0]), _log_softmax(lane[0])
    t = tokens[257:n_ctx]
    full = DivergenceAccumulator()
    full.add_full(lb, lq, t)
    for k, exact in ((5, False), (64, True)):
        order = np.argsort(-lq, axis=1)[:, :k]
        top = DivergenceAccumulator()
        top.add_topk(lb, t, lq[np.arange(255), t], order.tolist(), np.take_along_axis(lq, order, 1).tolist())
        got, want = top.stats(), full.stats()
        assert got["same_top"] == want["same_top"]  # the lane's argmax is always in its top-k
        assert got["ppl"] == pytest.approx(want["ppl"], rel=1e-6)
        if exact:
            assert got["kld_mean"] == pytest.approx(want["kld_mean"], rel=1e-4)
        else:
            assert got["kld_mean"] <= want["kld_mean"] + 1e-9
        assert got["topk_only"]


def test_logprob_file_roundtrip_decodes_like_llamacpp(tmp_path, known):
    n_ctx, tokens, base, _ = known
    path = write_dump(tmp_path / "base.kld", tokens, n_ctx, base)
    dump = read_dump(path)
    assert (dump.n_ctx, dump.n_vocab, dump.n_chunk, dump.n_scored) == (512, 64, 2, 255)
    assert (dump.chunk_targets(1) == tokens[512 + 257:1024]).all()
    decoded, ref = dump.chunk_logprobs(0), _log_softmax(base[0])
    keep = ref > ref.max(axis=1, keepdims=True) - 16  # llama.cpp clamps 16 nats below the top
    scale = (ref.max(axis=1) - np.maximum(ref.min(axis=1), ref.max(axis=1) - 16)) / 65535
    assert np.abs(decoded - ref)[keep].max() <= scale.max() * 0.51 + 1e-5


def test_a_file_that_is_not_a_logprob_file_is_refused(tmp_path):
    bad = tmp_path / "x.kld"
    bad.write_bytes(b"not logits at all, definitely")
    with pytest.raises(ConfigError, match="not a llama-perplexity log-prob file"):
        read_dump(bad)
    good = write_dump(tmp_path / "y.kld", np.arange(256, dtype=np.int32), 128,
                      [np.zeros((63, 8), np.float32), np.zeros((63, 8), np.float32)])
    good.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(ConfigError, match="truncated"):
        read_dump(good)
