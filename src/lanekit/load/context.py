"""Context-shaped scenarios: `run_prefix` (an agent re-sending the same system prompt and tool list
every turn — shows what the prefix cache saves) and `run_depth` (prefill and decode at context
depths like 4K/16K/64K). Re-exported by `lanekit.load.scenarios`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from lanekit.endpoint.client import DEFAULT_TIMEOUT_S, EndpointClient
from lanekit.endpoint.probe import served_context_async
from lanekit.endpoint.records import RequestRecord
from lanekit.load.prompts import (
    AGENT_TOOLS,
    AGENT_VERSION,
    agent_system_prompt,
    agent_turn,
    filler_text,
    sha256_of,
)
from lanekit.load.result import (
    Progress,
    Recorder,
    ScenarioResult,
    call_progress,
    request_stats,
    run_coro,
    sample_data,
)
from lanekit.load.scrape import Scraper
from lanekit.load.sink import Sink
from lanekit.load.stats import finite_or_none, median, ns_to_ms
from lanekit.load.watch import Liveness, Watch


def _ms(values: list[int | None]) -> float | None:
    return finite_or_none(ns_to_ms(median(values)), 3)


# -- prefix ------------------------------------------------------------------------------------
def run_prefix(base_url: str, model: str, *, turns: int = 8, system_words: int = 300, max_tokens: int = 32,
               tools_in: str = "prompt", cold_control: bool = True, metrics_url: str | None = None,
               metrics_prefix: str | None = None, sink: Sink | None = None, progress: Progress | None = None,
               transport: httpx.AsyncBaseTransport | None = None, alive: Liveness | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], int] = time.perf_counter_ns) -> ScenarioResult:
    """An agent conversation of `turns` turns re-sending one system prompt + tool list (in the prompt
    text, or as the API `tools` field with tools_in="api"). With `cold_control`, every turn's exact
    prompt is then re-sent behind a unique nonce, so nothing can come from the cache: cold vs warm
    TTFT at identical prompt length is the prefix cache's worth. Server hit rate when scraped.
    """
    system = agent_system_prompt(system_words, tools_in_prompt=(tools_in == "prompt"))
    extra = {"tools": AGENT_TOOLS} if tools_in == "api" else None
    convo: list[dict[str, str]] = []
    prompts: list[list[dict[str, str]]] = []
    for t in range(turns):
        user, reply = agent_turn(t)
        convo.append(user)
        prompts.append([{"role": "system", "content": system}, *convo])
        convo.append(reply)
    sha = sha256_of({"version": AGENT_VERSION, "prompts": prompts, "tools_in": tools_in})
    params = {"turns": turns, "system_words": system_words, "max_tokens": max_tokens, "tools_in": tools_in,
              "cold_control": cold_control, "prompt_version": AGENT_VERSION}
    total = turns * (2 if cold_control else 1)

    async def go() -> ScenarioResult:
        with Recorder("prefix", sink, base_url, model, params) as rec:
            warm: list[RequestRecord] = []
            cold: list[RequestRecord] = []
            watch = Watch(alive)
            scraper = Scraper(metrics_url, metrics_prefix=metrics_prefix, interval_s=0.5, clock=clock)
            scraper.start()
            try:
                async with EndpointClient(base_url, model, transport=transport, clock=clock,
                                          timeout_s=timeout_s) as client:
                    marks = [scraper.mark()]
                    for t, messages in enumerate(prompts):
                        watch.check()
                        r = await client.stream(messages=messages, max_tokens=max_tokens, extra_body=extra)
                        warm.append(r)
                        rec.add(sample_data(r, phase="warm", turn=t, prompt_sha256=sha))
                        call_progress(progress, t + 1, total, f"warm turn {t + 1}/{turns}")
                        await watch.after(r)
                    marks.append(scraper.mark())
                    for t, messages in enumerate(prompts if cold_control else []):
                        nonce = {"role": "system", "content": f"[session {secrets.token_hex(8)}] {messages[0]['content']}"}
                        r = await client.stream(messages=[nonce, *messages[1:]], max_tokens=max_tokens,
                                                extra_body=extra)
                        cold.append(r)
                        rec.add(sample_data(r, phase="cold", turn=t, prompt_sha256=sha))
                        call_progress(progress, turns + t + 1, total, f"cold turn {t + 1}/{turns}")
                        await watch.after(r)
                    marks.append(scraper.mark())
            finally:
                scraper.stop()
            later_warm = [r for r in warm[1:] if r.ok]
            later_cold = [r for r in cold[1:] if r.ok]
            ttft_warm = _ms([r.ttft_ns for r in later_warm])
            ttft_cold = _ms([r.ttft_ns for r in later_cold])
            isl = sum(r.isl or 0 for r in later_warm)
            cached = [r.cached_tokens for r in later_warm if r.cached_tokens is not None]
            stats = request_stats(warm)
            summary = {
                "turns": turns, "requests": len(warm) + len(cold), "errors": sum(1 for r in warm + cold if not r.ok),
                "first_error": next((r.error for r in warm + cold if not r.ok), None),
                "ttft_ms_first_turn": _ms([warm[0].ttft_ns]) if warm and warm[0].ok else None,
                "ttft_ms_warm": ttft_warm, "ttft_ms_cold": ttft_cold,
                "prefix_speedup_x": round(ttft_cold / ttft_warm, 3) if ttft_warm and ttft_cold else None,
                "isl_per_turn": [r.isl for r in warm],
                "ttft_ms_per_turn_warm": [finite_or_none(ns_to_ms(r.ttft_ns), 3) for r in warm],
                "ttft_ms_per_turn_cold": [finite_or_none(ns_to_ms(r.ttft_ns), 3) for r in cold],
                "cached_tokens_per_turn": [r.cached_tokens for r in warm],
                "cached_fraction": round(sum(cached) / isl, 4) if cached and isl else None,
                "decode_tok_s": stats["decode_tok_s"], "max_tokens": max_tokens,
                "server_warm": scraper.summary(marks[0], marks[1]) if len(marks) > 1 else None,
                "server_cold": scraper.summary(marks[1], marks[2]) if len(marks) > 2 and cold_control else None,
                "prompt_version": AGENT_VERSION, "prompt_sha256": sha, "warnings": [],
            }
            if summary["errors"]:
                summary["warnings"].append(f"{summary['errors']} request(s) failed: {summary['first_error']}")
            return rec.finish(summary)

    return run_coro(go)


# -- depth -------------------------------------------------------------------------------------
def _depth_prompt(words: int, seed: int) -> list[dict[str, str]]:
    # the nonce leads, so no two requests share a cacheable prefix
    text = f"[{secrets.token_hex(8)}] " + filler_text(words, seed) + "\nSummarise the text above in one sentence."
    return [{"role": "user", "content": text}]


def run_depth(base_url: str, model: str, *, depths: Sequence[int] = (4096, 16384, 65536), samples: int = 1,
              max_tokens: int = 64, max_ctx: int | None = None, warm: int = 0, sink: Sink | None = None,
              progress: Progress | None = None, transport: httpx.AsyncBaseTransport | None = None,
              alive: Liveness | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
              clock: Callable[[], int] = time.perf_counter_ns) -> ScenarioResult:
    """Prefill and decode at each context depth. Prompt length is calibrated from two probe requests'
    `usage.prompt_tokens`; depths that do not fit the endpoint's context (`max_ctx`, else
    discovered) are skipped and listed. Per depth: ISL, TTFT, prefill tok/s (ISL/TTFT), decode tok/s.
    With `warm`, each cold prompt is re-sent that many times: the prefix cache then serves all of it
    but the last turn, as an agent's next turn would be served — warm TTFT and decode beside cold.
    """
    params = {"depths": list(depths), "samples": samples, "max_tokens": max_tokens, "max_ctx": max_ctx,
              "warm": warm}

    async def go() -> ScenarioResult:
        with Recorder("depth", sink, base_url, model, params) as rec:
            rows: list[dict[str, Any]] = []
            skipped: list[int] = []
            warnings: list[str] = []
            watch = Watch(alive)
            async with EndpointClient(base_url, model, transport=transport, clock=clock,
                                      timeout_s=timeout_s) as client:
                ctx = max_ctx or (await served_context_async(client.http, base_url, model=model)).per_request
                slope, intercept = await _calibrate(client)
                if slope is None:
                    slope, intercept = 1.3, 16.0
                    warnings.append("no usage.prompt_tokens: prompt length guessed at 1.3 tokens/word")
                todo = [d for d in depths if ctx is None or d + max_tokens <= ctx]
                skipped = [d for d in depths if d not in todo]
                if skipped:
                    warnings.append(f"depths {skipped} skipped: context is {ctx} tokens")
                done = 0
                for d in todo:
                    words = max(1, int((d - intercept) / slope))
                    recs, warm_recs = [], []
                    for i in range(samples):
                        watch.check()
                        prompt = _depth_prompt(words, seed=d * 131 + i)
                        r = await client.stream(messages=prompt, max_tokens=max_tokens)
                        recs.append(r)
                        rec.add(sample_data(r, depth=d, index=i, phase="cold"))
                        await watch.after(r)
                        for w in range(warm if r.ok else 0):
                            watch.check()
                            rw = await client.stream(messages=prompt, max_tokens=max_tokens)
                            warm_recs.append(rw)
                            rec.add(sample_data(rw, depth=d, index=i, phase="warm", warm_index=w))
                            await watch.after(rw)
                        done += 1
                        call_progress(progress, done, len(todo) * samples, f"depth {d}")
                    rows.append(_depth_row(d, recs, warm_recs if warm else None))
            errors = sum(r["errors"] for r in rows)
            if errors:
                warnings.append(f"{errors} request(s) failed")
            summary = {"depths": rows, "skipped_depths": skipped, "ctx": ctx, "max_tokens": max_tokens,
                       "calibration": {"tokens_per_word": round(slope, 4), "overhead_tokens": round(intercept, 1)},
                       "errors": errors, "warnings": warnings}
            return rec.finish(summary)

    return run_coro(go)


async def _calibrate(client: EndpointClient) -> tuple[float | None, float]:
    """Tokens per filler word and fixed template overhead, from two short probe prompts."""
    counts = []
    for words in (64, 512):
        r = await client.stream(messages=_depth_prompt(words, seed=words), max_tokens=1, enforce_length=False)
        if r.isl is None:
            return None, 0.0
        counts.append((words, r.isl))
    (w1, p1), (w2, p2) = counts
    slope = (p2 - p1) / (w2 - w1)
    if slope <= 0:
        return None, 0.0
    return slope, p1 - slope * w1


def _depth_row(depth: int, recs: list[RequestRecord], warm: list[RequestRecord] | None = None) -> dict[str, Any]:
    from lanekit.results.stats import bootstrap

    stats = request_stats(recs)
    server_pp = [r.server_timings.get("prompt_per_second") for r in recs if r.ok and r.server_timings]
    row = {"depth": depth, "isl": stats["isl"], "samples": stats["samples"], "errors": stats["errors"],
           "ttft_ms": stats["ttft_ms"], "prefill_tok_s": stats["prefill_tok_s"],
           "decode_tok_s": stats["decode_tok_s"], "itl_ms": stats["itl_ms"],
           "server_prefill_tok_s": finite_or_none(median(server_pp), 2) if server_pp else None,
           "server_decode_tok_s": stats["server_decode_tok_s"]}
    if warm is not None:
        ws = request_stats(warm)
        ok_warm = [r for r in warm if r.valid]
        cold_ttft = bootstrap([r.ttft_ns / 1e6 for r in recs if r.valid and r.ttft_ns])
        warm_ttft = bootstrap([r.ttft_ns / 1e6 for r in ok_warm if r.ttft_ns])
        row.update({
            "warm_samples": ws["samples"], "warm_errors": ws["errors"], "ttft_ms_warm": ws["ttft_ms"],
            "decode_tok_s_warm": ws["decode_tok_s"],
            "cached_fraction_warm": _fraction([r.cached_tokens for r in ok_warm], [r.isl for r in ok_warm]),
            "ttft_ms_cold_iv": cold_ttft.model_dump(), "ttft_ms_warm_iv": warm_ttft.model_dump(),
            "decode_tok_s_iv": bootstrap([m for r in recs if r.valid
                                          for m in [_decode(r)] if m is not None]).model_dump()})
    return row


def _decode(rec: RequestRecord) -> float | None:
    from lanekit.load.metrics import record_metrics

    return record_metrics(rec).get("decode_tok_s")


def _fraction(num: list[int | None], den: list[int | None]) -> float | None:
    pairs = [(a, b) for a, b in zip(num, den) if a is not None and b]
    return round(sum(a for a, _ in pairs) / sum(b for _, b in pairs), 4) if pairs else None
