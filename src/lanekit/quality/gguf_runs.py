"""Quality of GGUF files through llama-perplexity: one model's quants on identical token ids.

`measure_files` picks the base (the highest bits per weight of the files given, or the one
named), writes its log-probs once (cached under LANEKIT_HOME/quality), then scores every
other file against it. Token ids come from llama.cpp's own tokenizer (`llama-tokenize`,
exactly what llama-perplexity feeds) and their sha256 goes into every result.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lanekit.catalog.gguf_header import read_gguf_header
from lanekit.dirs import home
from lanekit.errors import ConfigError, LanekitError
from lanekit.quality.chunking import plan_chunks, scored_per_chunk
from lanekit.quality.corpus import Corpus
from lanekit.quality.llamacpp import PerplexityRun, build_argv, find_llama_perplexity, run_perplexity
from lanekit.quality.result import KldEstimate, PplEstimate, QualityCfg, QualityResult, QualityTable

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class GgufFacts:
    """What lanekit needs from a GGUF header to compare it fairly."""

    path: Path
    file_bytes: int
    bits_per_weight: float
    n_vocab: int
    add_bos: bool
    bos_id: int | None
    tokenizer_sig: tuple
    sliding_window: int | None
    context_length: int | None


def gguf_facts(path: Path) -> GgufFacts:
    """Bits per weight (tensor bytes × 8 / elements), tokenizer signature, SWA window."""
    head = read_gguf_header(path)
    f = head.fields
    arch = f.get("general.architecture", "")
    elements = sum(t.n_elements for t in head.tensors) or 1
    n_vocab = len(f.get("tokenizer.ggml.tokens", ()))
    sig = (n_vocab, f.get("tokenizer.ggml.model"), f.get("tokenizer.ggml.pre"),
           f.get("tokenizer.ggml.bos_token_id"), f.get("tokenizer.ggml.eos_token_id"))
    return GgufFacts(path=path, file_bytes=path.stat().st_size,
                     bits_per_weight=sum(t.n_bytes for t in head.tensors) * 8 / elements, n_vocab=n_vocab,
                     add_bos=bool(f.get("tokenizer.ggml.add_bos_token", False)),
                     bos_id=f.get("tokenizer.ggml.bos_token_id"), tokenizer_sig=sig,
                     sliding_window=f.get(f"{arch}.attention.sliding_window"),
                     context_length=f.get(f"{arch}.context_length"))


def pick_base(facts: Sequence[GgufFacts]) -> GgufFacts:
    """The highest-precision file: most bits per weight, then the larger file."""
    return max(facts, key=lambda x: (round(x.bits_per_weight, 3), x.file_bytes))


def corpus_token_ids(binary_dir: Path, model: Path, corpus: Corpus) -> list[int]:
    """The ids llama-perplexity evaluates: llama.cpp's tokenizer, vocab's special prefix, no
    special-token parsing (perplexity.cpp `common_tokenize(ctx, prompt, true)`)."""
    from lanekit.lanes.engines.llamacpp_host import guarded

    tok = binary_dir / "llama-tokenize"
    argv, env = guarded([str(tok), "-m", str(model), "-f", str(corpus.path), "--ids", "--log-disable",
                         "--no-parse-special"])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0 or not proc.stdout.strip().startswith("["):
        raise LanekitError(f"llama-tokenize failed on {model.name} (exit {proc.returncode})",
                           fix="check the file is a GGUF llama.cpp loads")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tokens_sha256(ids: Sequence[int]) -> str:
    """sha256 of the evaluated ids as little-endian int32 (the layout llama.cpp stores)."""
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()


def _dump_path(base: GgufFacts, corpus: Corpus, n_ctx: int, chunks: int, lane_args: Sequence[str]) -> Path:
    st = base.path.stat()
    key = json.dumps([str(base.path.resolve()), st.st_size, st.st_mtime_ns, corpus.sha256, n_ctx, chunks,
                      list(lane_args)])
    folder = home() / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{base.path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.kld"


def _estimate(run: PerplexityRun, n_ctx: int, chunks: int) -> PplEstimate:
    return PplEstimate(ppl=float(run.ppl), ppl_err=run.ppl_err, n_ctx=n_ctx, n_chunks=chunks,
                       n_scored=chunks * scored_per_chunk(n_ctx),
                       chunk_ppl=run.chunk_ppl, eval_s=run.eval_s)


def _result(facts: GgufFacts, corpus: Corpus, ppl: PplEstimate, run: PerplexityRun, sha: str, **kw) -> QualityResult:
    return QualityResult(label=facts.path.name, method="llama-perplexity", engine="llamacpp",
                         model_file=str(facts.path), file_bytes=facts.file_bytes,
                         bits_per_weight=round(facts.bits_per_weight, 3), corpus=corpus.name,
                         corpus_sha256=corpus.sha256, tokens_sha256=sha, add_bos=facts.add_bos, ppl=ppl,
                         argv=run.argv, **kw)


def measure_files(files: Sequence[Path], cfg: QualityCfg, corpus: Corpus, *, lane_args: Sequence[str] = (),
                  progress: Progress | None = None) -> QualityTable:
    """PPL of each file, and KLD + top-1 agreement of each against the base, same token ids."""
    if not files:
        raise ConfigError("quality: no model file given", fix="pass one or more .gguf files")
    facts = [gguf_facts(Path(f)) for f in files]
    base = gguf_facts(Path(cfg.base)) if cfg.base else (pick_base(facts) if len(facts) > 1 else None)
    sigs = {x.tokenizer_sig for x in facts + ([base] if base else [])}
    if len(sigs) > 1:
        raise ConfigError("quality: the files have different tokenizers, so their token ids differ",
                          fix="compare quants of one model only; measure other models separately")
    binary = find_llama_perplexity()
    ids = corpus_token_ids(Path(binary).parent, facts[0].path, corpus)
    plan = plan_chunks(len(ids), cfg.ctx, max_chunks=cfg.chunks)
    chunks = len(plan.windows)
    sha = tokens_sha256(ids[:chunks * cfg.ctx])
    say = progress or (lambda *_: None)
    rows: list[QualityResult] = []
    if base is None:
        for x in facts:
            argv = build_argv(binary, x.path, n_ctx=cfg.ctx, chunks=chunks, threads=cfg.threads, corpus=corpus.path,
                              lane_args=lane_args)
            run = run_perplexity(argv, progress=lambda d, t, n=x.path.name: say(n, d, t), timeout_s=cfg.timeout_s)
            rows.append(_result(x, corpus, _estimate(run, cfg.ctx, chunks), run, sha))
        return QualityTable(base=None, corpus=corpus.name, corpus_sha256=corpus.sha256, rows=rows)
    dump = _dump_path(base, corpus, cfg.ctx, chunks, lane_args)
    base_run = _base_run(binary, base, dump, cfg, corpus, chunks, lane_args, say)
    base_row = _result(base, corpus, _estimate(base_run, cfg.ctx, chunks), base_run, sha, is_base=True)
    for x in facts:
        if x.path.resolve() == base.path.resolve():
            rows.append(base_row)
            continue
        argv = build_argv(binary, x.path, n_ctx=cfg.ctx, chunks=None, threads=cfg.threads, dump=dump, kld=True,
                          lane_args=lane_args)
        run = run_perplexity(argv, progress=lambda d, t, n=x.path.name: say(n, d, t), timeout_s=cfg.timeout_s)
        rows.append(_result(x, corpus, _estimate(run, cfg.ctx, chunks), run, sha, kld=_kld(run, base)))
    if all(r is not base_row for r in rows):
        rows.insert(0, base_row)
    return QualityTable(base=base.path.name, corpus=corpus.name, corpus_sha256=corpus.sha256, rows=rows)


def ensure_base_dump(base: GgufFacts, cfg: QualityCfg, corpus: Corpus, chunks: int, *,
                     lane_args: Sequence[str] = (), progress: Progress | None = None) -> tuple[Path, PerplexityRun]:
    """The base's log-prob file for this corpus/ctx/chunks (written once, then reused) and its run."""
    dump = _dump_path(base, corpus, cfg.ctx, chunks, lane_args)
    run = _base_run(find_llama_perplexity(), base, dump, cfg, corpus, chunks, lane_args, progress or (lambda *_: None))
    return dump, run


def _base_run(binary: str, base: GgufFacts, dump: Path, cfg: QualityCfg, corpus: Corpus, chunks: int,
              lane_args: Sequence[str], say: Progress) -> PerplexityRun:
    """Write (or reuse) the base's log-prob file; its PPL is recorded beside it."""
    meta = dump.with_suffix(".json")
    if dump.is_file() and meta.is_file():
        saved = json.loads(meta.read_text())
        run = PerplexityRun(argv=saved["argv"], ppl=saved["ppl"], ppl_err=saved["ppl_err"],
                            chunk_ppl=saved["chunk_ppl"], eval_s=saved.get("eval_s"))
        say(f"{base.path.name} (cached base)", chunks, chunks)
        return run
    tmp = dump.with_suffix(".kld.part")
    argv = build_argv(binary, base.path, n_ctx=cfg.ctx, chunks=chunks, threads=cfg.threads, corpus=corpus.path,
                      dump=tmp, lane_args=lane_args)
    try:
        run = run_perplexity(argv, progress=lambda d, t: say(f"{base.path.name} (base)", d, t),
                             timeout_s=cfg.timeout_s)
        tmp.replace(dump)
    finally:
        tmp.unlink(missing_ok=True)
    run.argv = [a if a != str(tmp) else str(dump) for a in run.argv]
    meta.write_text(json.dumps({"argv": run.argv, "ppl": run.ppl, "ppl_err": run.ppl_err,
                                "chunk_ppl": run.chunk_ppl, "eval_s": run.eval_s}))
    return run


def _kld(run: PerplexityRun, base: GgufFacts) -> KldEstimate:
    s = run.stats
    if "kld_mean" not in s:
        raise LanekitError("llama-perplexity printed no KLD statistics (fewer than 100 tokens scored?)",
                           fix="score more tokens: raise --chunks or --ctx")
    return KldEstimate(base=base.path.name, base_bits_per_weight=round(base.bits_per_weight, 3),
                       kld_mean=s["kld_mean"], kld_err=s.get("kld_mean_err"), kld_median=s.get("kld_median"),
                       kld_p99=s.get("kld_p99"), kld_p999=s.get("kld_p999"), kld_max=s.get("kld_max"),
                       same_top=s["same_top"], same_top_err=s.get("same_top_err"), rms_dp=s.get("rms_dp"),
                       ln_ppl_ratio=s.get("ln_ppl_ratio"), ppl_base=s.get("ppl_base"))


def measure_long_ctx(path: Path, depth: int, corpus: Corpus, *, threads: int | None = None,
                     lane_args: Sequence[str] = (), timeout_s: float = 3600.0,
                     progress: Progress | None = None) -> PplEstimate:
    """PPL in one window of `depth` tokens (the second half scored: context depth/2..depth),
    with the lane's RoPE/YaRN flags, the way the lane serves a long agent conversation."""
    binary = find_llama_perplexity()
    say = progress or (lambda *_: None)
    argv = build_argv(binary, path, n_ctx=depth, chunks=1, threads=threads, corpus=corpus.path, lane_args=lane_args)
    run = run_perplexity(argv, progress=lambda d, t: say(f"{path.name} @ {depth:,}", d, t), timeout_s=timeout_s)
    return _estimate(run, depth, 1)
