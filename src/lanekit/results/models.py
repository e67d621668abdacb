"""What a lane produced (`LaneResult`) and what a bakeoff concluded (`BakeoffReport`): typed,
versioned, built once by the bakeoff where each step is measured, saved by the store, read back
by the profile and the CLI. `manifest.json` is a `BakeoffReport`'s serialisation.

Scenario summaries stay the stable per-scenario JSON documented on `load.result.ScenarioResult`
(versioned there); the headline numbers every reader needs are typed properties here.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, computed_field

from lanekit.quality.result import QualityResult
from lanekit.results.stats import Interval

LANE_RESULT_SCHEMA_VERSION = 1
REPORT_SCHEMA_VERSION = 2  # 1 was the untyped manifest of lane dicts


def number(value: Any) -> float | None:
    """A finite float, or None (NaN, missing and non-numbers alike)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


class StepRecord(BaseModel):
    """One step of one lane: fit, guard, up, doctor, bench, eval, down."""

    step: str
    status: str
    elapsed_s: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Failure(BaseModel):
    """Why a lane stopped: the step, the reason in one line, the fix, the engine's last log lines."""

    step: str
    reason: str
    fix: str | None = None
    log_tail: str = ""


class Sizing(BaseModel):
    """The memory envelope and the decode ceiling, from the model file, before launch."""

    weights_bytes: int | None = None
    kv_bytes: int | None = None
    kv_bytes_per_token: int | None = None
    overhead_bytes: int | None = None
    total_bytes: int | None = None
    free_after_bytes: int | None = None
    explain: list[str] = Field(default_factory=list)
    quant: str | None = None
    active_params: float | None = None
    total_params: float | None = None
    bytes_read_per_token: float | None = None
    decode_ceiling_tok_s: float | None = None
    predicted_decode_tok_s: float | None = None
    prediction_source: str | None = Field(None, description="calibrated here / shipped / generic estimate")
    prediction_origin: str | None = None
    predicted_bench_tok_s: float | None = Field(None, description="what llama-bench would measure (no server cost)")
    synthetic: bool = Field(False, description="the model file holds random weights lanekit wrote (speed only)")
    error: str | None = None


class Launch(BaseModel):
    """What the started engine turned out to be."""

    ready_s: float | None = None
    engine_version: str | None = None
    pid: int | None = None
    port: int | None = None
    served_ctx: int | None = None
    served_ctx_source: str | None = None
    orphan_stopped: str | None = Field(None, description="an orphan of a dead lanekit stopped before launch")
    footprint: dict[str, Any] | None = None


class DoctorOutcome(BaseModel):
    verdict: str
    failures: list[str] = Field(default_factory=list)
    fixes: list[str] = Field(default_factory=list)
    report: dict[str, Any] = Field(default_factory=dict)


class BenchOutcome(BaseModel):
    """Scenario summaries by name (replay, context, single, sustained, sweep, and any the plan adds),
    plus intervals the bakeoff computed from their samples (e.g. `decode_tok_s` of single)."""

    replay: dict[str, Any] | None = Field(None, description="the agent trace replayed (load.replay)")
    context: dict[str, Any] | None = Field(None, description="cold/warm TTFT and decode at long contexts (depth)")
    single: dict[str, Any] | None = None
    sustained: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    extra: dict[str, dict[str, Any]] = Field(default_factory=dict)
    intervals: dict[str, Interval] = Field(default_factory=dict)

    @property
    def turn_s(self) -> Interval | None:
        """Seconds per agent turn on the replayed trace (the headline speed), with its interval."""
        raw = (self.replay or {}).get("turn_s")
        iv = Interval.model_validate(raw) if isinstance(raw, dict) else None
        return iv if iv is not None and iv.point is not None else None

    @property
    def prefix_reuse(self) -> float | None:
        """Share of the replay's prompt tokens after each session's first request served from the cache."""
        return number((self.replay or {}).get("prefix_reuse_after_first"))

    @property
    def decode_tok_s(self) -> float | None:
        return number((self.single or {}).get("decode_tok_s"))

    @property
    def ttft_ms(self) -> float | None:
        return number((self.single or {}).get("ttft_ms"))

    @property
    def server_decode_tok_s(self) -> float | None:
        return number((self.single or {}).get("server_decode_tok_s"))

    @property
    def sustained_drift_pct(self) -> float | None:
        return number((self.sustained or {}).get("drift_pct"))


class UncleanRun(BaseModel):
    task: str
    why: str


class EvalOutcome(BaseModel):
    """The agent battery's scores on this lane; `intervals` holds Wilson intervals of the rates and
    the seconds per successful task (bootstrap over runs)."""

    agent: str
    battery_sha256: str | None = None
    n_runs: int = 0
    summary: dict[str, Any] = Field(default_factory=dict)
    unclean_runs: list[UncleanRun] = Field(default_factory=list)
    intervals: dict[str, Interval] = Field(default_factory=dict)

    def rate(self, key: str) -> float | None:
        return number(self.summary.get(key))

    @property
    def error_counts(self) -> dict[str, int]:
        return dict(self.summary.get("error_counts") or {})


class JudgedWith(BaseModel):
    """What the lane was judged with: the launch files carry exactly this (served context, output
    cap, sampling, turn budget), so the lane a user runs is the lane that was measured."""

    served_ctx: int | None = None
    max_tokens: int | None = None
    max_turns: int | None = None
    task_timeout_s: float | None = None
    sampling: dict[str, Any] | None = Field(None, description="the lane's server-side sampling (None: engine defaults)")
    temperature: float | None = Field(None, description="a temperature the battery sent (None: the lane's)")
    stream: bool = True
    agent: str | None = None


class TeardownOutcome(BaseModel):
    """The verified teardown (`lanes.teardown.TeardownReport` plus its verdicts)."""

    stop_s: float | None = None
    forced_kill: bool = False
    port_closed: bool = False
    processes_gone: bool = False
    survivors: list[int] = Field(default_factory=list)
    memory_back: bool = False
    verified: bool = False
    mem_delta_bytes: int | None = None
    summary: str = ""


class LaneResult(BaseModel):
    """Everything one lane produced in one bakeoff attempt."""

    schema_version: int = LANE_RESULT_SCHEMA_VERSION
    name: str
    engine: str
    model: str
    ctx: int
    parallel: int
    kv_dtype: str | None = None
    synthetic: bool = False
    chat_template_file: str | None = None
    spec: dict[str, Any]
    attempt: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    failure: Failure | None = None
    sizing: Sizing = Field(default_factory=Sizing)
    launch: Launch | None = None
    doctor: DoctorOutcome | None = None
    bench: BenchOutcome = Field(default_factory=BenchOutcome)
    eval: EvalOutcome | None = None
    judged: JudgedWith | None = None
    teardown: TeardownOutcome | None = None
    quality: QualityResult | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def measured(self) -> bool:
        """Every measurement step finished (a teardown that did not verify still measured)."""
        return self.failure is None or self.failure.step == "down"

    @property
    def failed_step(self) -> str | None:
        return self.failure.step if self.failure else None

    @property
    def decode_tok_s(self) -> float | None:
        return self.bench.decode_tok_s

    @property
    def turn_s(self) -> Interval | None:
        """Seconds per agent turn on the replayed workload, with its interval."""
        return self.bench.turn_s

    @property
    def s_per_success(self) -> Interval | None:
        """Battery seconds per successful task (None without a success)."""
        iv = self.eval.intervals.get("s_per_success") if self.eval else None
        return iv if iv is not None and iv.point is not None else None

    @property
    def pct_of_ceiling(self) -> float | None:
        ceiling, speed = self.sizing.decode_ceiling_tok_s, self.decode_tok_s
        return 100.0 * speed / ceiling if ceiling and speed else None

    @property
    def pct_of_predicted(self) -> float | None:
        predicted, speed = self.sizing.predicted_decode_tok_s, self.decode_tok_s
        return 100.0 * speed / predicted if predicted and speed else None

    @property
    def doctor_verdict(self) -> str | None:
        return self.doctor.verdict if self.doctor else None

    def rate(self, key: str) -> float | None:
        """An eval rate (format_error_rate, clean_run_rate, ...), None when not measured."""
        return self.eval.rate(key) if self.eval else None


class LaneVerdict(BaseModel):
    """The ranking's conclusion about one lane (a pure function of the results). Lanes whose
    headline intervals overlap share a `noise_group` and a rank: they are within noise, not ordered."""

    name: str
    eligible: bool
    reasons: list[str] = Field(default_factory=list)
    rank: int | None = None
    recommended: bool = False
    noise_group: int | None = None
    within_noise_of: list[str] = Field(default_factory=list)
    headline: str | None = Field(None, description="what ordered the lane: s/turn (replay) or tok/s (single)")


class Ranking(BaseModel):
    verdicts: list[LaneVerdict] = Field(default_factory=list, description="eligible lanes first, in rank order")
    verdict: str = ""
    recommended: str | None = None
    measured_lanes: int = 0

    @property
    def nothing_measured(self) -> bool:
        """No lane completed its steps: the run produced no measurement to judge."""
        return self.measured_lanes == 0

    def of(self, name: str) -> LaneVerdict | None:
        return next((v for v in self.verdicts if v.name == name), None)


class BakeoffReport(BaseModel):
    """What a bakeoff concluded: every lane's result, the ranking, and what it ran on."""

    schema_version: int = REPORT_SCHEMA_VERSION
    kind: str = "bakeoff"
    run_id: str
    status: str | None = None
    plan_name: str = "bakeoff"
    plan_digest: str | None = None
    plan: dict[str, Any] = Field(default_factory=dict)
    agent: str | None = None
    hardware: dict[str, Any] = Field(default_factory=dict)
    created_at: float | None = None
    finished_at: float | None = None
    elapsed_s: float | None = None
    resumed_lanes: list[str] = Field(default_factory=list)
    lanes: list[LaneResult] = Field(default_factory=list, description="in plan order")
    ranking: Ranking = Field(default_factory=Ranking)
    warnings: list[str] = Field(default_factory=list, description="reasons to distrust the ranking's order "
                                                                  "(noisy numbers; `report.noise`)")
    out_dir: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> str:
        return self.ranking.verdict

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recommended(self) -> str | None:
        return self.ranking.recommended

    @computed_field  # type: ignore[prop-decorator]
    @property
    def nothing_measured(self) -> bool:
        return self.ranking.nothing_measured

    def lane(self, name: str) -> LaneResult | None:
        return next((x for x in self.lanes if x.name == name), None)

    def ranked(self) -> list[tuple[LaneResult, LaneVerdict]]:
        """(result, verdict) pairs in ranking order."""
        by_name = {x.name: x for x in self.lanes}
        return [(by_name[v.name], v) for v in self.ranking.verdicts if v.name in by_name]
