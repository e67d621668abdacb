"""What a tune leaves behind: every trial (launched or not, and why), the finalists, the winner.

`TuneResult` is the stable JSON (`lanekit tune --json`, schema_version 1); `history_rows` the
80-column table; `plot_history` the objective per trial with the best so far; `lanes_yaml` the
winning lane spec as a `lanes.yaml` document (`lanekit bakeoff --lanes-file`, `lanekit up LANE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

TrialStatus = Literal["measured", "failed", "launch_failed", "oom_predicted", "invalid", "repeat", "interrupted"]
SCHEMA_VERSION = 1


class TrialRow(BaseModel):
    """One point the search asked for. Only `measured` ones launched and scored; `oom_predicted`
    ones were sized over the budget and never launched; `repeat` reused an earlier point's value."""

    number: int
    params: dict[str, Any]
    status: TrialStatus
    value: float | None = None
    errors: int = 0
    need_bytes: int | None = None
    available_bytes: int | None = None
    reason: str | None = None
    duration_s: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class FinalistRow(BaseModel):
    """One finalist re-measured: its values, the conservative score, and the validation verdict."""

    params: dict[str, Any]
    baseline: bool = False
    values: list[float | None] = Field(default_factory=list)
    median: float | None = None
    mad: float | None = None
    score: float | None = Field(None, description="median − k·MAD (larger is better) or median + k·MAD")
    valid: bool | None = None
    validation: dict[str, Any] = Field(default_factory=dict)


class TuneResult(BaseModel):
    """The whole tune of one lane."""

    schema_version: int = SCHEMA_VERSION
    lane: str
    engine: str
    objective: str
    unit: str
    larger_is_better: bool
    space: dict[str, Any]
    grid_size: int
    study: str
    storage: str | None = None
    seed: int
    stop_reason: str
    trials: list[TrialRow]
    finalists: list[FinalistRow] = Field(default_factory=list)
    baseline_params: dict[str, Any] = Field(default_factory=dict)
    winner_params: dict[str, Any] | None = None
    winner_score: float | None = None
    baseline_score: float | None = None
    improvement_pct: float | None = Field(None, description="winner vs the lane as given, conservative scores")
    winner_spec: dict[str, Any] | None = None
    mad_k: float = 1.0
    elapsed_s: float | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def launched(self) -> int:
        """Trials that started a process (measured, failed or failed to launch)."""
        return sum(1 for t in self.trials if t.status in ("measured", "failed", "launch_failed", "interrupted"))


def _short(params: dict[str, Any]) -> str:
    abbrev = {"threads": "t", "batch": "b", "ubatch": "ub", "kv_dtype": "kv", "parallel": "np",
              "flash_attn": "fa", "cache_reuse": "cr", "repack": "rp"}
    return " ".join(f"{abbrev.get(k, k)}={_v(v)}" for k, v in params.items())


def _v(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    return str(value)


def history_rows(result: TuneResult) -> list[tuple[str, str, str, str]]:
    """(trial, status, value, params) per trial, for an 80-column table; repeats left out."""
    rows = []
    for t in result.trials:
        if t.status == "repeat":
            continue
        value = f"{t.value:.4g}" if t.value is not None else (f"{t.errors} err" if t.errors else "-")
        if t.status == "oom_predicted" and t.need_bytes:
            value = f"{t.need_bytes / (1 << 30):.1f}G>"
        rows.append((str(t.number), t.status, value, _short(t.params)))
    return rows


def lanes_yaml(result: TuneResult) -> str:
    """The winning spec as a lanes.yaml document (comments say where it came from)."""
    if result.winner_spec is None:
        return ""
    head = (f"# tuned by `lanekit tune` (study {result.study}): {result.objective} "
            f"{result.winner_score:.4g} {result.unit}" if result.winner_score is not None else "# tuned")
    return head + "\n" + yaml.safe_dump({"lanes": [result.winner_spec]}, sort_keys=False)


def plot_history(result: TuneResult, path: Path) -> Path | None:
    """Objective per launched trial and the best so far (PNG); None when nothing was measured."""
    measured = [t for t in result.trials if t.status == "measured" and t.value is not None]
    if not measured:
        return None
    try:
        import matplotlib
    except ImportError:  # the plot is a view of the JSON; a box without matplotlib still tunes
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    better = max if result.larger_is_better else min
    best, xs, ys, bests = None, [], [], []
    for t in measured:
        best = t.value if best is None else better(best, t.value)
        xs.append(t.number)
        ys.append(t.value)
        bests.append(best)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(xs, ys, "o", label="trial")
    ax.step(xs, bests, where="post", label="best so far")
    oom = [t.number for t in result.trials if t.status == "oom_predicted"]
    if oom:
        ax.plot(oom, [bests[0]] * len(oom), "x", color="red", label="sized out (not launched)")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{result.objective} ({result.unit})")
    ax.set_title(f"lanekit tune {result.lane}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
