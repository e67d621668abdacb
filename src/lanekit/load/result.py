"""What a scenario returns (`ScenarioResult`), how its samples leave as they are measured
(`Recorder`, writing to the `Sink` it is handed), and the per-request statistics every scenario
summary shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

from pydantic import BaseModel, Field

from lanekit.endpoint.records import RequestRecord
from lanekit.load.metrics import record_metrics
from lanekit.load.sink import Sink
from lanekit.load.stats import finite_or_none, median, ns_to_ms, percentile

SCHEMA_VERSION = 1
Progress = Callable[[float, "float | None", str], None]
T = TypeVar("T")


class ScenarioResult(BaseModel):
    """One scenario on one endpoint: its parameters, summary, and every request sample.

    Stable JSON (`ScenarioResult.to_json_object()`, printed by `lanekit bench --json`; schema_version 1).
    Every object: schema_version, scenario, run_id, lane, base_url, model, started_at, duration_s,
    warnings (list of strings), then per scenario (times in ms, rates in tok/s, null when unknown):

        single     decode_tok_s (median per-request 1/ITL), decode_tok_s_p10, decode_tok_s_p90, ttft_ms
                   (median), ttft_ms_p90/p99, ttfr_ms, ttfo_ms, itl_ms, e2e_ms, prefill_tok_s, osl, isl,
                   samples (valid requests), requests, errors, first_error, short_outputs,
                   usage_mismatches, server_decode_tok_s (engine's own timing, median), server_agreement_pct,
                   max_tokens, warmup, prompt_version, prompt_sha256, roofline {ceiling_tok_s,
                   pct_of_ceiling, warning}
        sustained  the request statistics of single (decode_tok_s … server_decode_tok_s), interval_s, concurrency, gap_s, intervals [{t_s, tok_s}],
                   interval_tok_s, drift_pct (last vs first full window), wall_tok_s (idle included),
                   in_flight_tok_s (idle excluded), busy_fraction, server {engine, scrapes,
                   scrape_errors, generated_tokens, wall_s, busy_s, server_wall_tok_s,
                   server_in_flight_tok_s, server_slot_decode_tok_s, prefix_hit_rate,
                   spec_acceptance, max_running, ...} | null, telemetry {mem_available_min_bytes, gpu
                   {temp_max_c, sm_clock_min_mhz, sm_clock_max_mhz, sm_clock_drop_pct, power_mean_w,
                   mem_used_max_bytes} | null, ...} | null
        sweep      levels [{concurrency, requests, samples, errors, short_outputs, per_request_tok_s,
                   per_request_tok_s_p10, aggregate_tok_s, ttft_ms_p50, ttft_ms_p99, itl_ms_p50,
                   e2e_ms_p50, pct_of_ceiling, server}], peak_aggregate_tok_s, peak_concurrency,
                   scaling_x (last level / first), requests, samples, errors, short_outputs, roofline
        prefix     turns, ttft_ms_first_turn, ttft_ms_warm, ttft_ms_cold, prefix_speedup_x (cold/warm,
                   turns ≥ 2), isl_per_turn, ttft_ms_per_turn_warm/_cold, cached_tokens_per_turn,
                   cached_fraction, decode_tok_s, server_warm, server_cold (prefix_hit_rate there)
        depth      depths [{depth, isl, ttft_ms, prefill_tok_s, decode_tok_s, itl_ms,
                   server_prefill_tok_s, server_decode_tok_s, samples, errors; with warm re-sends also
                   warm_samples, warm_errors, ttft_ms_warm, decode_tok_s_warm, cached_fraction_warm,
                   ttft_ms_cold_iv, ttft_ms_warm_iv, decode_tok_s_iv}], skipped_depths, ctx,
                   calibration {tokens_per_word, overhead_tokens}
        replay     trace, trace_sha256, mode, repeats, pin_output, sessions, requests, samples, errors, first_error,
                   turn_s / session_s / ttft_ms / decode_tok_s as intervals {point, low, high, n, method},
                   session_wall_s, evaluated_prefill_tok_s (prompt tokens really evaluated ÷ TTFT),
                   server_prefill_tok_s, prompt_tokens, cached_tokens, evaluated_tokens, output_tokens,
                   prefix_reuse, prefix_reuse_after_first, trace_extends {requests, extend_previous},
                   schedule_lag_ms {p50, p90, max, n}, threading (delta: padded_calls, dropped_calls,
                   resynced, recorded_replies), finish_reasons, per_turn [{session, turn, n, isl, cached,
                   ttft_ms, e2e_s, osl}]

    Keys are only ever added within a schema_version. Stored samples keep integer nanoseconds.
    """

    schema_version: int = SCHEMA_VERSION
    scenario: str
    run_id: str | None = None
    lane: str | None = None
    base_url: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    started_at: float
    duration_s: float
    summary: dict[str, Any]
    samples: list[dict[str, Any]] = Field(default_factory=list)
    series: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, description="scrapes, telemetry")

    def to_json_object(self) -> dict[str, Any]:
        """The stable `lanekit bench --json` object: identity fields, then the summary keys."""
        head = {"schema_version": self.schema_version, "scenario": self.scenario, "run_id": self.run_id,
                "lane": self.lane, "base_url": self.base_url, "model": self.model,
                "started_at": self.started_at, "duration_s": round(self.duration_s, 3)}
        return {**head, **self.summary}


def sample_data(rec: RequestRecord, **extra: Any) -> dict[str, Any]:
    """The stored form of one request: its record, every record metric, and scenario context."""
    return {"kind": "request", **extra, **rec.model_dump(), **record_metrics(rec)}


def call_progress(progress: Progress | None, done: float, total: float | None, label: str) -> None:
    """Report progress; a broken progress callback never breaks a measurement."""
    if progress is not None:
        with contextlib.suppress(Exception):  # rendering is not measurement
            progress(done, total, label)


class Recorder:
    """Hands each sample to the sink the moment it is measured; builds the `ScenarioResult`."""

    def __init__(self, scenario: str, sink: Sink | None, base_url: str, model: str, params: dict[str, Any]) -> None:
        self.scenario, self.sink = scenario, sink
        self.base_url, self.model, self.params = base_url, model, params
        self.run_id = getattr(sink, "run_id", None)
        self.lane = getattr(sink, "lane", None)
        self.samples: list[dict[str, Any]] = []
        self.started_at = time.time()
        self._t0 = time.perf_counter()

    def add(self, data: dict[str, Any]) -> None:
        """Keep one sample and pass it on (queued: this never waits on a disk)."""
        self.samples.append(data)
        if self.sink is not None:
            self.sink.sample(self.scenario, data)

    def add_series(self, kind: str, rows: list[dict[str, Any]]) -> None:
        """Pass on a side series (scrapes, telemetry)."""
        if self.sink is not None and rows:
            self.sink.samples(self.scenario, [{"kind": kind, **r} for r in rows])

    def finish(self, summary: dict[str, Any], series: dict[str, list] | None = None) -> ScenarioResult:
        """Pass on the summary and build the result."""
        if self.sink is not None:
            self.sink.summary(self.scenario, summary)
        return ScenarioResult(scenario=self.scenario, run_id=self.run_id, lane=self.lane, base_url=self.base_url,
                              model=self.model, params=self.params, started_at=self.started_at,
                              duration_s=time.perf_counter() - self._t0, summary=summary,
                              samples=self.samples, series=series or {})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _r(value: float | None, nd: int = 2) -> float | None:
    return finite_or_none(value, nd)


def request_stats(records: list[RequestRecord]) -> dict[str, Any]:
    """Counts and per-request distributions shared by every scenario summary.

    Only valid records (no error, requested length reached) enter the distributions; short outputs
    and errors are counted, never averaged in.
    """
    valid = [r for r in records if r.valid]
    metrics = [record_metrics(r) for r in valid]

    def col(tag: str) -> list[float]:
        return [m[tag] for m in metrics if m[tag] is not None]

    decode, ttft = col("decode_tok_s"), col("ttft_ns")
    errors = [r for r in records if not r.ok]
    server = col("server_decode_tok_s")
    return {
        "requests": len(records), "samples": len(valid), "errors": len(errors),
        "first_error": errors[0].error if errors else None,
        "short_outputs": sum(1 for r in records if r.ok and r.short),
        "usage_mismatches": sum(1 for r in records if r.ok and r.usage_mismatch),
        "decode_tok_s": _r(median(decode)), "decode_tok_s_p10": _r(percentile(decode, 10)),
        "decode_tok_s_p90": _r(percentile(decode, 90)),
        "ttft_ms": _r(ns_to_ms(median(ttft)), 3), "ttft_ms_p90": _r(ns_to_ms(percentile(ttft, 90)), 3),
        "ttft_ms_p99": _r(ns_to_ms(percentile(ttft, 99)), 3),
        "ttfr_ms": _r(ns_to_ms(median(col("ttfr_ns"))), 3), "ttfo_ms": _r(ns_to_ms(median(col("ttfo_ns"))), 3),
        "itl_ms": _r(ns_to_ms(median(col("itl_ns"))), 3), "e2e_ms": _r(ns_to_ms(median(col("e2e_ns"))), 3),
        "prefill_tok_s": _r(median(col("prefill_tok_s"))),
        "evaluated_prefill_tok_s": _r(median(col("evaluated_prefill_tok_s"))),
        "prompt_evaluated": _r(median(r.prompt_evaluated for r in valid), 1),
        "cached_tokens": _r(median(r.cached_tokens for r in valid), 1),
        "osl": _r(median(r.osl for r in valid), 1), "isl": _r(median(r.isl for r in valid), 1),
        "server_decode_tok_s": _r(median(server)) if server else None,
    }


def run_coro(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="lanekit-load")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
