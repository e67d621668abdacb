"""Quality of an HTTP lane (vLLM, SGLang) from prompt log-probs, on the same ids as llama.cpp.

With a base GGUF of the same model the stream is llama.cpp's token ids and chunking (the
base's log-prob file), so PPL, top-1 agreement and a top-k KLD bound compare with every
llama.cpp lane of that model. Without one, the server's own /tokenize gives the ids.
Sliding-window models are scored in half-overlapping windows no longer than the window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from lanekit.errors import ConfigError
from lanekit.quality.chunking import plan_chunks, sliding_window_ctx, window_tokens
from lanekit.quality.corpus import Corpus
from lanekit.quality.divergence import DivergenceAccumulator, perplexity_of
from lanekit.quality.logits_dump import read_dump
from lanekit.quality.logprobs import Shape, fetch_prompt_logprobs, server_tokenize
from lanekit.quality.result import KldEstimate, PplEstimate, QualityCfg, QualityResult

Progress = Callable[[str, int, int | None], None]


def measure_endpoint(base_url: str, model: str, cfg: QualityCfg, corpus: Corpus, *, shape: Shape,
                     engine: str, label: str | None = None, client: httpx.Client | None = None,
                     progress: Progress | None = None) -> QualityResult:
    """PPL (and, with `cfg.base`, top-1 agreement and KLD vs the base) of a live endpoint."""
    import time

    from lanekit.quality.gguf_runs import ensure_base_dump, gguf_facts, tokens_sha256

    say = progress or (lambda *_: None)
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(cfg.timeout_s, connect=10.0))
    try:
        dump = base = None
        if cfg.base:
            base = gguf_facts(Path(cfg.base))
            n_ctx, stride = sliding_window_ctx(cfg.ctx, cfg.sliding_window or base.sliding_window)
            if stride != n_ctx:
                stride = n_ctx  # the base's log-probs are in llama.cpp's chunks; score the same positions
            cfg_b = cfg.model_copy(update={"ctx": n_ctx})
            from lanekit.quality.gguf_runs import corpus_token_ids
            from lanekit.quality.llamacpp import find_llama_perplexity

            ids = corpus_token_ids(Path(find_llama_perplexity()).parent, base.path, corpus)
            chunks = len(plan_chunks(len(ids), n_ctx, max_chunks=cfg.chunks).windows)
            dump_path, _ = ensure_base_dump(base, cfg_b, corpus, chunks, progress=say)
            dump = read_dump(dump_path)
            stream = [int(t) for t in dump.tokens]
            add_bos, bos_id = base.add_bos, base.bos_id
        else:
            n_ctx, stride = sliding_window_ctx(cfg.ctx, cfg.sliding_window)
            if cfg.stride:
                stride = cfg.stride
            stream, bos_id = server_tokenize(client, base_url, model, corpus.text())
            add_bos = bos_id is not None and bool(stream) and stream[0] == bos_id
        plan = plan_chunks(len(stream), n_ctx, stride=stride, max_chunks=cfg.chunks)
        acc = DivergenceAccumulator() if dump is not None else None
        nll: list[float] = []
        running: list[float] = []
        t0 = time.monotonic()
        for w in plan.windows:
            ids = window_tokens(stream, w, add_bos=add_bos, bos_id=bos_id)
            got = fetch_prompt_logprobs(client, base_url, model, ids, shape=shape, top_k=cfg.top_logprobs)
            lo, hi = w.first, w.n_ctx - 1  # prompt positions first+1..n_ctx-1 are entries first..n_ctx-2
            lane_lp = np.asarray(got.target[lo:hi])
            nll.extend((-lane_lp).tolist())
            running.append(round(perplexity_of(np.asarray(nll))[0], 4))
            if acc is not None and got.has_ids:
                acc.add_topk(dump.chunk_logprobs(w.index), dump.chunk_targets(w.index), lane_lp,
                             got.top_ids[lo:hi], got.top_logprobs[lo:hi])
            say(label or model, w.index + 1, len(plan.windows))
        eval_s = time.monotonic() - t0
    finally:
        if own:
            client.close()
    ppl, err = perplexity_of(np.asarray(nll))
    est = PplEstimate(ppl=ppl, ppl_err=err, n_ctx=n_ctx, n_chunks=len(plan.windows), n_scored=plan.n_scored,
                      convention=plan.convention, chunk_ppl=running, eval_s=eval_s)
    kld = None
    if acc is not None and acc.count:
        s = acc.stats()
        kld = KldEstimate(base=base.path.name, base_bits_per_weight=round(base.bits_per_weight, 3),
                          kld_mean=s["kld_mean"], kld_err=s["kld_err"], kld_median=s["kld_median"],
                          kld_p99=s["kld_p99"], kld_p999=s["kld_p999"], kld_max=s["kld_max"],
                          same_top=s["same_top"], same_top_err=s["same_top_err"], rms_dp=s["rms_dp"],
                          ln_ppl_ratio=s["ln_ppl_ratio"], ppl_base=s["ppl_base"], topk_only=True)
    elif dump is not None and shape == "echo":
        raise ConfigError("--logprobs echo returns top-k by text, so KLD and top-1 need ids",
                          fix="use --logprobs vllm or sglang, or drop --base for PPL only")
    used = stream[:plan.windows[-1].start + n_ctx]
    return QualityResult(label=label or model, method="prompt-logprobs", engine=engine, endpoint=base_url,
                         corpus=corpus.name, corpus_sha256=corpus.sha256, tokens_sha256=tokens_sha256(used),
                         add_bos=add_bos, ppl=est, kld=kld)
