"""Run the shipped `llama-perplexity` on a lane's own GGUF and read back what it printed.

Two modes, both on the same chunking (lanekit never re-tokenizes for llama.cpp):
- base: `-f corpus --kl-divergence-base DUMP` prints PPL and stores the base's log-probs and
  token ids, so every later file is scored on exactly those ids;
- lane: `--kl-divergence-base DUMP --kl-divergence` (no text) prints PPL(Q), KLD, Δp and
  "Same top p" against that base.
Flags that change the numbers (RoPE/YaRN, KV dtype, flash attention, overrides) come from
the lane, so a lane served with the wrong RoPE is measured with the wrong RoPE.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lanekit.errors import ConfigError, EngineNotFound, LanekitError, ModelError

# llama.cpp flags carried from a lane's extra_args (flag -> number of values) because they
# change the logits; speed-only and server-only flags are left out.
NUMERIC_FLAGS: dict[str, int] = {
    "--rope-scaling": 1, "--rope-scale": 1, "--rope-freq-base": 1, "--rope-freq-scale": 1,
    "--yarn-orig-ctx": 1, "--yarn-ext-factor": 1, "--yarn-attn-factor": 1, "--yarn-beta-slow": 1,
    "--yarn-beta-fast": 1, "--override-kv": 1, "-ctk": 1, "--cache-type-k": 1, "-ctv": 1,
    "--cache-type-v": 1, "-fa": 1, "--flash-attn": 1, "--swa-full": 0, "-ngl": 1, "--n-gpu-layers": 1,
    "--override-tensor": 1, "-ot": 1, "--no-op-offload": 0,
}
_CHUNK_PPL = re.compile(r"\[(\d+)\](nan|inf|-?[0-9.]+),")
_KLD_ROW = re.compile(r"^\s*(\d+)\s+([0-9.]+|nan|inf)\s+±")
_NUM = r"(-?[0-9.]+(?:e[-+]?\d+)?|nan|inf)"
_FINAL = re.compile(rf"Final estimate: PPL = {_NUM} \+/- {_NUM}")
_STATS = {
    "ppl": rf"Mean PPL\(Q\)\s*:\s*{_NUM}\s*±\s*{_NUM}",
    "ppl_base": rf"Mean PPL\(base\)\s*:\s*{_NUM}\s*±\s*{_NUM}",
    "ln_ppl_ratio": rf"Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*{_NUM}\s*±\s*{_NUM}",
    "kld_mean": rf"Mean\s+KLD:\s*{_NUM}\s*±\s*{_NUM}",
    "kld_max": rf"Maximum KLD:\s*{_NUM}",
    "kld_p999": rf"99\.9%\s+KLD:\s*{_NUM}",
    "kld_p99": rf"99\.0%\s+KLD:\s*{_NUM}",
    "kld_median": rf"Median\s+KLD:\s*{_NUM}",
    "rms_dp": rf"RMS Δp\s*:\s*{_NUM}\s*±\s*{_NUM}\s*%",
    "same_top": rf"Same top p:\s*{_NUM}\s*±\s*{_NUM}\s*%",
}
_PERCENT = {"rms_dp", "same_top"}


def find_llama_perplexity(server_binary: str | None = None) -> str:
    """llama-perplexity: $LANEKIT_LLAMA_PERPLEXITY, beside llama-server, or on PATH."""
    explicit = os.environ.get("LANEKIT_LLAMA_PERPLEXITY")
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise EngineNotFound(f"LANEKIT_LLAMA_PERPLEXITY={explicit} does not exist",
                             fix="point it at a built llama-perplexity or unset it")
    from lanekit.lanes.engines.llamacpp import INSTALL_HINT, find_llama_server

    try:
        beside = Path(find_llama_server(server_binary)).with_name("llama-perplexity")
    except EngineNotFound:
        beside = None
    if beside is not None and beside.is_file():
        return str(beside)
    import shutil

    found = shutil.which("llama-perplexity")
    if found:
        return found
    raise EngineNotFound("llama-perplexity is not installed (it ships beside llama-server)", fix=INSTALL_HINT)


def lane_numeric_args(extra_args: Sequence[str]) -> list[str]:
    """The subset of a lane's llama.cpp flags that change logits (see NUMERIC_FLAGS)."""
    out: list[str] = []
    args = list(extra_args)
    i = 0
    while i < len(args):
        flag = args[i].split("=", 1)[0]
        if flag in NUMERIC_FLAGS:
            if "=" in args[i]:
                out.append(args[i])
                i += 1
                continue
            n = NUMERIC_FLAGS[flag]
            out += args[i:i + 1 + n]
            i += 1 + n
        else:
            i += 1
    return out


@dataclass
class PerplexityRun:
    """What one llama-perplexity run printed, plus timings lanekit took."""

    argv: list[str]
    ppl: float | None = None
    ppl_err: float | None = None
    chunk_ppl: list[float] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    n_chunks: int | None = None
    eval_s: float | None = None
    wall_s: float = 0.0
    log_tail: str = ""


def build_argv(binary: str, model: Path, *, n_ctx: int, chunks: int | None, threads: int | None,
               corpus: Path | None = None, dump: Path | None = None, kld: bool = False,
               lane_args: Sequence[str] = ()) -> list[str]:
    """The llama-perplexity command line for one run.

    The batch holds whole windows (llama.cpp asserts n_batch < n_ctx or a multiple of it), so
    short windows run several sequences per decode, as llama-perplexity does by default.
    """
    batch = n_ctx * max(1, 2048 // n_ctx) if n_ctx <= 2048 else 2048
    argv = [binary, "-m", str(model), "-c", str(n_ctx), "-b", str(batch), "--no-warmup"]
    if corpus is not None:
        argv += ["-f", str(corpus)]
    if chunks is not None:
        argv += ["--chunks", str(chunks)]
    if threads:
        argv += ["-t", str(threads)]
    if dump is not None:
        argv += ["--kl-divergence-base", str(dump)]
    if kld:
        argv.append("--kl-divergence")
    return argv + list(lane_args)


def run_perplexity(argv: list[str], *, progress: Callable[[int, float | None], None] | None = None,
                   timeout_s: float | None = None) -> PerplexityRun:
    """Run llama-perplexity, stream its output (progress per chunk), parse the result.

    LanekitError (one line, the log tail attached) when it fails or prints no result.
    """
    run = PerplexityRun(argv=argv)
    t0 = time.monotonic()
    eval_t0: float | None = None
    seen = 0
    text = ""
    from lanekit.lanes.engines.llamacpp_host import guarded

    argv, env = guarded(argv)  # smoke-checked build, this host's fix applied
    run.argv = argv
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None
        while True:
            block = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if not block:
                break
            text += block.decode("utf-8", "replace")
            if eval_t0 is None and ("calculating perplexity over" in text or "computing over" in text):
                eval_t0 = time.monotonic()
            done = _chunks_done(text)
            if done > seen:
                seen = done
                run.eval_s = time.monotonic() - (eval_t0 or t0)
                if progress:
                    progress(done, _n_chunks(text))
            if timeout_s and time.monotonic() - t0 > timeout_s:
                proc.kill()
                raise LanekitError(f"llama-perplexity ran past {timeout_s:.0f}s", fix="use fewer --chunks or a smaller --ctx")
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    run.wall_s = time.monotonic() - t0
    run.log_tail = "\n".join(text.strip().splitlines()[-12:])
    _parse(run, text)
    if proc.returncode != 0 or (run.ppl is None and not run.stats):
        raise _failure(run, text, proc.returncode)
    return run


def _chunks_done(text: str) -> int:
    ppl = [int(m.group(1)) for m in _CHUNK_PPL.finditer(text)]
    rows = [int(m.group(1)) for line in text.splitlines() if (m := _KLD_ROW.match(line))]
    return max(ppl + rows, default=0)


def _n_chunks(text: str) -> int | None:
    m = re.search(r"(?:calculating perplexity over|computing over) (\d+) chunks", text)
    return int(m.group(1)) if m else None


def _num(s: str) -> float:
    return float(s)


def _parse(run: PerplexityRun, text: str) -> None:
    run.n_chunks = _n_chunks(text)
    run.chunk_ppl = [_num(m.group(2)) for m in _CHUNK_PPL.finditer(text)]
    final = _FINAL.search(text)
    if final:
        run.ppl, run.ppl_err = _num(final.group(1)), _num(final.group(2))
    for key, pattern in _STATS.items():
        m = re.search(pattern, text)
        if not m:
            continue
        scale = 0.01 if key in _PERCENT else 1.0
        run.stats[key] = _num(m.group(1)) * scale
        if m.lastindex and m.lastindex >= 2:
            run.stats[f"{key}_err"] = _num(m.group(2)) * scale
    if "ppl" in run.stats and run.ppl is None:
        run.ppl, run.ppl_err = run.stats["ppl"], run.stats.get("ppl_err")


def _failure(run: PerplexityRun, text: str, rc: int | None) -> LanekitError:
    m = re.search(r"you need at least (\d+) tokens.*?context of (\d+).*?tokenizes to only (\d+) tokens", text, re.DOTALL)
    if m:
        return ConfigError(f"corpus: {int(m.group(3)):,} tokens, ctx {int(m.group(2)):,} needs {int(m.group(1)):,}",
                           fix="use a smaller --ctx or a longer --corpus file")
    if "unable to load model" in text or "failed to load model" in text:
        return ModelError(f"llama-perplexity could not load {run.argv[2]}", fix="check the file is a GGUF llama.cpp loads")
    if "inconsistent vocabulary" in text:
        return ConfigError("base: the base and this file have different vocabularies",
                           fix="compare quants of one model only (same tokenizer)")
    from lanekit.lanes.engines.llamacpp_host import tool_failure

    err = LanekitError(f"{tool_failure(run.argv, rc if rc is not None else 1, text)}, without a result",
                       fix="read the log lines below")
    err.log_tail = run.log_tail  # type: ignore[attr-defined]
    return err
