"""What `lanekit tune` optimises: one number measured on a live candidate lane.

An `Objective` has a name, a unit, a direction and `measure(target) -> Measurement`. The target
is a `load.target.Target` (base_url, model, alive), so an objective is any load scenario:

    turn_s      seconds per agent turn (default; smaller is better) on a `TurnWorkload` — the
                lane's replay trace when one is given (`replay_workload`, issue 16's
                `load.replay.run_replay`), else the built-in multi-turn agent conversation
                (`load.context.run_prefix`: one system prompt + tool list, growing history)
    decode      single-stream decode tok/s (`run_single`, exactly `max_tokens` per request)
    throughput  peak aggregate tok/s over a concurrency sweep (`run_sweep`; batch users)
    goodput     aggregate tok/s at the highest sweep level whose TTFT p99 and ITL p50 meet the SLOs

A measurement with failed requests is kept as data (`errors`), and scores no value: a flag that
makes requests fail cannot win on speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lanekit.errors import ConfigError
from lanekit.load.target import Target


@dataclass
class Measurement:
    """One objective value on one candidate (None when the workload failed), and what backs it."""

    value: float | None
    errors: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


class Objective(Protocol):
    """The seam every objective implements (a fake one in the unit tests)."""

    name: str
    unit: str
    larger_is_better: bool

    def measure(self, target: Target) -> Measurement: ...


# A workload for the default objective: (target) -> (seconds per turn or None, errors, detail).
TurnWorkload = Callable[[Target], Measurement]


def prefix_workload(turns: int = 6, max_tokens: int = 32, system_words: int = 300) -> TurnWorkload:
    """The built-in agent conversation (`run_prefix` without its cold control): mean seconds per turn."""

    def run(target: Target) -> Measurement:
        from lanekit.load.context import run_prefix

        res = run_prefix(target.base_url, target.model, turns=turns, max_tokens=max_tokens,
                         system_words=system_words, cold_control=False, alive=target.alive)
        rows = [s for s in res.samples if s.get("kind") == "request"]
        ok = [s["e2e_ns"] for s in rows if not s.get("error") and s.get("e2e_ns")]
        errors = len(rows) - len(ok)
        value = (sum(ok) / len(ok) / 1e9) if ok and not errors else None
        return Measurement(value, errors, {"workload": "prefix", "turns": turns,
                                           "ttft_ms_warm": res.summary.get("ttft_ms_warm"),
                                           "decode_tok_s": res.summary.get("decode_tok_s")})

    return run


def replay_workload(trace_path: str | Path) -> TurnWorkload:
    """Seconds per agent turn replaying a recorded trace (`lanekit.load.replay`, issue 16).

    The replay's own `summary["turn_s"]["point"]` is the value; requests run back to back
    (the agent's think time is not the lane's), in history mode so every candidate does the
    same work."""
    try:
        from lanekit.agents.traces.workload import read_trace  # type: ignore[import-not-found]
        from lanekit.load.replay import run_replay  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError("--trace: this lanekit has no replay scenario (lanekit.load.replay)",
                          fix="use the built-in agent conversation (omit --trace) until replay lands") from None
    trace = read_trace(trace_path)

    def run(target: Target) -> Measurement:
        res = run_replay(target.base_url, target.model, trace, mode="history", honour_delays=False,
                         alive=target.alive)
        s = res.summary
        point = (s.get("turn_s") or {}).get("point")
        errors = int(s.get("errors") or 0)
        return Measurement(point if not errors else None, errors,
                           {"workload": "replay", "trace": str(trace_path), "turn_s": s.get("turn_s")})

    return run


@dataclass
class TurnSeconds:
    """Seconds per agent turn on a workload (smaller is better)."""

    workload: TurnWorkload
    name: str = "turn_s"
    unit: str = "s/turn"
    larger_is_better: bool = False

    def measure(self, target: Target) -> Measurement:
        return self.workload(target)


@dataclass
class DecodeTokS:
    """Single-stream decode rate, `samples` requests of exactly `max_tokens` tokens."""

    samples: int = 3
    max_tokens: int = 128
    name: str = "decode"
    unit: str = "tok/s"
    larger_is_better: bool = True

    def measure(self, target: Target) -> Measurement:
        from lanekit.load.scenarios import run_single

        s = run_single(target.base_url, target.model, samples=self.samples, max_tokens=self.max_tokens,
                       warmup=1, alive=target.alive).summary
        errors = int(s.get("errors") or 0)
        value = s.get("decode_tok_s")
        return Measurement(value if not errors else None, errors, {"ttft_ms": s.get("ttft_ms")})


@dataclass
class SweepTokS:
    """Aggregate tok/s over a concurrency sweep: the peak (`throughput`), or under SLOs (`goodput`)."""

    concurrency: tuple[int, ...] = (1, 2, 4)
    requests_per_level: int = 8
    max_tokens: int = 64
    ttft_slo_ms: float | None = None
    itl_slo_ms: float | None = None
    name: str = "throughput"
    unit: str = "tok/s"
    larger_is_better: bool = True

    def measure(self, target: Target) -> Measurement:
        from lanekit.load.scenarios import run_sweep

        s = run_sweep(target.base_url, target.model, concurrency=self.concurrency,
                      requests_per_level=self.requests_per_level, max_tokens=self.max_tokens,
                      alive=target.alive).summary
        levels = s.get("levels") or []
        errors = sum(int(lv.get("errors") or 0) for lv in levels)
        good = [lv for lv in levels if _meets(lv.get("ttft_ms_p99"), self.ttft_slo_ms)
                and _meets(lv.get("itl_ms_p50"), self.itl_slo_ms)]
        value = max((lv["aggregate_tok_s"] for lv in good if lv.get("aggregate_tok_s")), default=None)
        if errors:
            value = None
        return Measurement(value, errors, {"levels": [{k: lv.get(k) for k in ("concurrency", "aggregate_tok_s",
                                                                               "ttft_ms_p99", "itl_ms_p50")}
                                                      for lv in levels]})


def _meets(value: float | None, slo: float | None) -> bool:
    return slo is None or (value is not None and value <= slo)


OBJECTIVES = ("turn_s", "decode", "throughput", "goodput")


def make_objective(name: str, *, trace: str | Path | None = None, ttft_slo_ms: float | None = None,
                   itl_slo_ms: float | None = None) -> Objective:
    """The objective a user names (`--objective`); ConfigError names the choices."""
    if name == "turn_s":
        return TurnSeconds(replay_workload(trace) if trace else prefix_workload())
    if name == "decode":
        return DecodeTokS()
    if name == "throughput":
        return SweepTokS()
    if name == "goodput":
        if ttft_slo_ms is None and itl_slo_ms is None:
            raise ConfigError("--objective goodput needs an SLO", fix="pass --ttft-slo-ms and/or --itl-slo-ms")
        return SweepTokS(ttft_slo_ms=ttft_slo_ms, itl_slo_ms=itl_slo_ms, name="goodput")
    raise ConfigError(f"--objective: unknown objective {name!r}", fix=f"choose from {', '.join(OBJECTIVES)}")
