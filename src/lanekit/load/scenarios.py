"""Load scenarios, the public API the CLI and the bakeoff call: `run_single` (what one agent
feels), `run_sustained` (flat out for a duration: drift, wall vs in-flight), `run_sweep`
(concurrency levels: per-request vs aggregate), plus `run_prefix` and `run_depth` from
`load/context.py`. Every function is synchronous and returns a `ScenarioResult`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from lanekit.endpoint.client import DEFAULT_TIMEOUT_S, EndpointClient
from lanekit.endpoint.records import RequestRecord
from lanekit.load.context import run_depth, run_prefix
from lanekit.load.metrics import aggregate_metrics
from lanekit.load.prompts import single_prompt
from lanekit.load.result import (
    Progress,
    Recorder,
    ScenarioResult,
    call_progress,
    request_stats,
    run_coro,
    sample_data,
)
from lanekit.load.roofline import RooflineRef, roofline_block, roofline_ref
from lanekit.load.scrape import Scraper
from lanekit.load.sink import Sink
from lanekit.load.stats import finite_or_none, ns_to_ms, percentile
from lanekit.load.watch import Liveness, Watch

# Client and engine decode rates further apart than this (percent) are said to disagree.
AGREEMENT_WARN_PCT = 10.0

__all__ = ["ScenarioResult", "run_depth", "run_prefix", "run_single", "run_sustained", "run_sweep"]


def _ceiling(model: str, model_ref: str | None, ceiling_tok_s: float | None) -> RooflineRef:
    """The raw bandwidth ceiling and the calibrated prediction a measured rate is judged against."""
    return roofline_ref(model_ref or model, ceiling_tok_s)


def _warnings(stats: dict[str, Any], roof: dict[str, Any]) -> list[str]:
    out = []
    if stats.get("errors"):
        out.append(f"{stats['errors']} request(s) failed: {stats.get('first_error')}")
    if stats.get("short_outputs"):
        out.append(f"{stats['short_outputs']} output(s) shorter than requested were left out of the averages")
    if stats.get("usage_mismatches"):
        out.append(f"{stats['usage_mismatches']} request(s) where usage and chunk counts differ by >10%")
    if roof.get("warning"):
        out.append(roof["warning"])
    return out


# -- single ------------------------------------------------------------------------------------
def run_single(base_url: str, model: str, *, samples: int = 5, max_tokens: int = 256, warmup: int = 1,
               sink: Sink | None = None, progress: Progress | None = None,
               transport: httpx.AsyncBaseTransport | None = None, model_ref: str | None = None,
               ceiling_tok_s: float | None = None, api: str = "chat", alive: Liveness | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], int] = time.perf_counter_ns) -> ScenarioResult:
    """Single stream: `warmup` unrecorded requests, then `samples` sequential requests of exactly
    `max_tokens` output tokens on a fixed versioned prompt. Summary: median/p90 decode tok/s,
    median TTFT, the engine's own decode rate when reported, and the prompt's sha256.
    """
    messages, version, sha = single_prompt()
    params = {"samples": samples, "max_tokens": max_tokens, "warmup": warmup, "prompt_version": version}

    async def go() -> ScenarioResult:
        with Recorder("single", sink, base_url, model, params) as rec:
            records: list[RequestRecord] = []
            watch = Watch(alive)
            async with EndpointClient(base_url, model, transport=transport, api=api, clock=clock,
                                      timeout_s=timeout_s) as client:
                for i in range(warmup):
                    call_progress(progress, 0, samples, f"warm-up {i + 1}/{warmup}")
                    await watch.after(await client.stream(messages=messages, max_tokens=max_tokens))
                for i in range(samples):
                    watch.check()
                    r = await client.stream(messages=messages, max_tokens=max_tokens)
                    records.append(r)
                    rec.add(sample_data(r, index=i, prompt_sha256=sha))
                    call_progress(progress, i + 1, samples, f"sample {i + 1}/{samples}")
                    await watch.after(r)
            stats = request_stats(records)
            roof = roofline_block(stats["decode_tok_s"], _ceiling(model, model_ref, ceiling_tok_s))
            agreement = None
            if stats["server_decode_tok_s"] and stats["decode_tok_s"]:
                agreement = round(100.0 * (stats["decode_tok_s"] / stats["server_decode_tok_s"] - 1.0), 2)
            warnings = _warnings(stats, roof)
            if agreement is not None and abs(agreement) > AGREEMENT_WARN_PCT:
                warnings.append(f"client decode {stats['decode_tok_s']} tok/s and the engine's own "
                                f"{stats['server_decode_tok_s']} tok/s differ by {agreement:+.1f}%: one of the two "
                                "clocks is wrong (a fake or proxied server?)")
            if stats["cached_tokens"] and stats["isl"] and stats["cached_tokens"] > stats["isl"] / 2:
                warnings.append(f"TTFT here is a prefix-cache hit: the server evaluated {stats['prompt_evaluated']:g} "
                                f"of {stats['isl']:g} prompt tokens (cold prefill: the replay and context scenarios)")
            summary = {**stats, "server_agreement_pct": agreement, "max_tokens": max_tokens, "warmup": warmup,
                       "prompt_version": version, "prompt_sha256": sha, "roofline": roof, "warnings": warnings}
            return rec.finish(summary)

    return run_coro(go)


# -- sustained ---------------------------------------------------------------------------------
def interval_series(records: list[RequestRecord], t0_ns: int, t_end_ns: int, interval_ns: int) -> list[dict]:
    """Output tok/s per fixed interval from token-chunk arrival times (a chunk carries osl/n_chunks tokens).

    Only full intervals are returned; the tail shorter than one interval is dropped.
    """
    n_full = max(0, (t_end_ns - t0_ns) // interval_ns)
    buckets = [0.0] * n_full
    for r in records:
        if not r.valid or not r.n_token_chunks:
            continue
        weight = r.osl / r.n_token_chunks
        for off in r.token_chunk_ns:
            k = (r.start_ns + off - t0_ns) // interval_ns
            if 0 <= k < n_full:
                buckets[k] += weight
    secs = interval_ns / 1e9
    return [{"t_s": round(k * secs, 3), "tok_s": round(b / secs, 3)} for k, b in enumerate(buckets)]


def drift_pct(values: Sequence[float]) -> float | None:
    """Change of the last window against the first, in percent (None with fewer than two windows)."""
    if len(values) < 2 or not values[0]:
        return None
    return round(100.0 * (values[-1] - values[0]) / values[0], 2)


def run_sustained(base_url: str, model: str, *, duration_s: float = 60, interval_s: float = 10,
                  max_tokens: int = 256, metrics_url: str | None = None, metrics_prefix: str | None = None,
                  sink: Sink | None = None, progress: Progress | None = None, concurrency: int = 1,
                  gap_s: float = 0.0, warmup: int = 1, scrape_interval_s: float = 0.25, telemetry: bool = True,
                  transport: httpx.AsyncBaseTransport | None = None, clock: Callable[[], int] = time.perf_counter_ns,
                  model_ref: str | None = None, ceiling_tok_s: float | None = None, alive: Liveness | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> ScenarioResult:
    """Flat out for `duration_s` (`concurrency` streams, new requests until the deadline, in-flight
    ones finish). `gap_s` idles each stream between requests, like an agent harness thinking.
    Summary: tok/s per `interval_s` window, drift % first vs last window, and the wall-divided
    figure beside the in-flight one — client-side always, server-side when `metrics_url` is set.
    """
    messages, version, sha = single_prompt()
    params = {"duration_s": duration_s, "interval_s": interval_s, "max_tokens": max_tokens,
              "concurrency": concurrency, "gap_s": gap_s, "prompt_version": version}

    async def go() -> ScenarioResult:
        from lanekit.load.telemetry import TelemetrySampler, summarize

        with Recorder("sustained", sink, base_url, model, params) as rec:
            records: list[RequestRecord] = []
            watch = Watch(alive)
            scraper = Scraper(metrics_url, metrics_prefix=metrics_prefix, interval_s=scrape_interval_s, clock=clock)
            sampler = TelemetrySampler(interval_s=min(interval_s, 1.0), clock=clock) if telemetry else None
            async with EndpointClient(base_url, model, transport=transport, clock=clock,
                                      timeout_s=timeout_s) as client:
                for i in range(warmup):
                    call_progress(progress, 0, duration_s, f"warm-up {i + 1}/{warmup}")
                    await watch.after(await client.stream(messages=messages, max_tokens=max_tokens))
                await asyncio.to_thread(scraper.start)
                if sampler:
                    sampler.start()
                t0 = clock()
                deadline = t0 + int(duration_s * 1e9)

                async def stream_loop(worker: int) -> None:
                    while clock() < deadline:
                        watch.check()
                        r = await client.stream(messages=messages, max_tokens=max_tokens)
                        records.append(r)
                        rec.add(sample_data(r, worker=worker, prompt_sha256=sha))
                        await watch.after(r)
                        if gap_s > 0:
                            if clock() + int(gap_s * 1e9) >= deadline:
                                break  # no request would follow the pause: don't count idle tail
                            await asyncio.sleep(gap_s)

                async def ticker() -> None:
                    while True:
                        call_progress(progress, min(duration_s, (clock() - t0) / 1e9), duration_s,
                                      f"{len(records)} requests")
                        await asyncio.sleep(0.5)

                tick = asyncio.create_task(ticker())
                try:
                    await asyncio.gather(*(stream_loop(w) for w in range(concurrency)))
                finally:
                    tick.cancel()
                    t_end = clock()
                    await asyncio.to_thread(scraper.stop)
                    samples_tel = sampler.stop() if sampler else []
            stats = request_stats(records)
            series = interval_series(records, t0, t_end, int(interval_s * 1e9))
            agg = aggregate_metrics(records, wall_ns=t_end - t0)
            server = scraper.summary()
            roof = roofline_block(stats["decode_tok_s"], _ceiling(model, model_ref, ceiling_tok_s))
            warnings = _warnings(stats, roof)
            if server and server.get("scrapes", 0) < 2:
                warnings.append(f"server metrics: only {server.get('scrapes')} scrape(s) ({server.get('last_error')})")
            summary = {
                **stats, "duration_s": round((t_end - t0) / 1e9, 3), "interval_s": interval_s,
                "concurrency": concurrency, "gap_s": gap_s, "max_tokens": max_tokens,
                "intervals": series, "interval_tok_s": [s["tok_s"] for s in series],
                "drift_pct": drift_pct([s["tok_s"] for s in series]),
                "wall_tok_s": finite_or_none(agg["wall_tok_s"], 2),
                "in_flight_tok_s": finite_or_none(agg["in_flight_tok_s"], 2),
                "busy_fraction": _busy_fraction(records, t_end - t0),
                "server": _round_dict(server), "telemetry": summarize(samples_tel) if sampler else None,
                "prompt_sha256": sha, "roofline": roof, "warnings": warnings,
            }
            scrape_rows = [{"t_ns": s.t_ns, "values": s.values} for s in scraper.scrapes]
            rec.add_series("scrape", scrape_rows)
            rec.add_series("telemetry", samples_tel)
            return rec.finish(summary, {"scrapes": scrape_rows, "telemetry": samples_tel})

    return run_coro(go)


def _busy_fraction(records: list[RequestRecord], wall_ns: int) -> float | None:
    from lanekit.load.metrics import RecordSet

    busy = RecordSet(records).busy_ns
    return round(busy / wall_ns, 4) if busy is not None and wall_ns > 0 else None


def _round_dict(d: dict | None, nd: int = 3) -> dict | None:
    if d is None:
        return None
    return {k: (finite_or_none(v, nd) if isinstance(v, float) else v) for k, v in d.items()}


# -- sweep -------------------------------------------------------------------------------------
def run_sweep(base_url: str, model: str, *, concurrency: Sequence[int] = (1, 2, 4, 8),
              requests_per_level: int | None = None, max_tokens: int = 128, sink: Sink | None = None,
              progress: Progress | None = None, metrics_url: str | None = None, metrics_prefix: str | None = None,
              warmup: int = 1, transport: httpx.AsyncBaseTransport | None = None, model_ref: str | None = None,
              ceiling_tok_s: float | None = None, alive: Liveness | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], int] = time.perf_counter_ns) -> ScenarioResult:
    """Closed-loop concurrency sweep: at each level N streams keep one request in flight each until
    `requests_per_level` (default max(4, 2N)) are done. Per level: per-request decode tok/s,
    aggregate tok/s (Σ output / span), TTFT p50/p99, and server in-flight tok/s when scraped.
    """
    messages, version, sha = single_prompt()
    levels = [int(c) for c in concurrency]
    per_level = {c: requests_per_level or max(4, 2 * c) for c in levels}
    total = sum(per_level.values())
    params = {"concurrency": levels, "requests_per_level": requests_per_level, "max_tokens": max_tokens,
              "prompt_version": version}

    async def go() -> ScenarioResult:
        with Recorder("sweep", sink, base_url, model, params) as rec:
            scraper = Scraper(metrics_url, metrics_prefix=metrics_prefix, interval_s=0.25, clock=clock)
            rows, all_records, done = [], [], 0
            ceiling = _ceiling(model, model_ref, ceiling_tok_s)
            watch = Watch(alive)
            async with EndpointClient(base_url, model, transport=transport, clock=clock,
                                      timeout_s=timeout_s) as client:
                for _ in range(warmup):
                    await watch.after(await client.stream(messages=messages, max_tokens=max_tokens))
                await asyncio.to_thread(scraper.start)
                try:
                    for c in levels:
                        remaining = list(range(per_level[c]))
                        level_records: list[RequestRecord] = []
                        t0 = await asyncio.to_thread(scraper.mark)

                        async def stream_loop(worker: int, c: int = c, remaining: list = remaining,
                                              level_records: list = level_records) -> None:
                            nonlocal done
                            while remaining:
                                watch.check()
                                index = remaining.pop(0)
                                r = await client.stream(messages=messages, max_tokens=max_tokens)
                                level_records.append(r)
                                rec.add(sample_data(r, concurrency=c, index=index, worker=worker, prompt_sha256=sha))
                                done += 1
                                call_progress(progress, done, total, f"concurrency {c}")
                                await watch.after(r)

                        await asyncio.gather(*(stream_loop(w) for w in range(c)))
                        t1 = await asyncio.to_thread(scraper.mark)
                        all_records += level_records
                        rows.append(_level_row(c, level_records, t0, t1, ceiling))
                finally:
                    await asyncio.to_thread(scraper.stop)
            # server figures per level need the scrape that closes the level, so fill them in now
            for row in rows:
                row["server"] = _round_dict(scraper.summary(row.pop("_t0"), row.pop("_t1")))
            aggs = [r["aggregate_tok_s"] for r in rows if r["aggregate_tok_s"] is not None]
            peak = max(rows, key=lambda r: r["aggregate_tok_s"] or 0.0) if rows else None
            stats = request_stats(all_records)
            roof = roofline_block(rows[0]["per_request_tok_s"] if rows else None, ceiling)
            summary = {
                "levels": rows, "requests": stats["requests"], "samples": stats["samples"],
                "errors": stats["errors"], "short_outputs": stats["short_outputs"], "max_tokens": max_tokens,
                "peak_aggregate_tok_s": peak["aggregate_tok_s"] if peak else None,
                "peak_concurrency": peak["concurrency"] if peak else None,
                "scaling_x": round(aggs[-1] / aggs[0], 3) if len(aggs) > 1 and aggs[0] else None,
                "prompt_sha256": sha, "roofline": roof, "warnings": _warnings(stats, roof),
            }
            return rec.finish(summary)

    return run_coro(go)


def _level_row(c: int, records: list[RequestRecord], t0: int, t1: int, ceiling: float | None) -> dict[str, Any]:
    stats = request_stats(records)
    agg = aggregate_metrics(records)
    valid = [r for r in records if r.valid]
    ttft = [r.ttft_ns for r in valid]
    return {
        "concurrency": c, "requests": stats["requests"], "samples": stats["samples"], "errors": stats["errors"],
        "short_outputs": stats["short_outputs"],
        "per_request_tok_s": stats["decode_tok_s"], "per_request_tok_s_p10": stats["decode_tok_s_p10"],
        "aggregate_tok_s": finite_or_none(agg["system_output_tok_s"], 2),
        "ttft_ms_p50": finite_or_none(ns_to_ms(percentile(ttft, 50)), 3),
        "ttft_ms_p99": finite_or_none(ns_to_ms(percentile(ttft, 99)), 3),
        "itl_ms_p50": stats["itl_ms"], "e2e_ms_p50": stats["e2e_ms"],
        "pct_of_ceiling": roofline_block(stats["decode_tok_s"], ceiling)["pct_of_ceiling"],
        "_t0": t0, "_t1": t1,
    }
