"""Size every candidate before it may launch: the lane's engine memory estimate against the pool.

The same arithmetic the guard uses at `lanekit up` (`engine.memory_estimate` → `guard.check_fits`),
run on the candidate spec, so `tune` never starts a process the guard would refuse — a candidate
predicted over the budget is recorded (`SizeVerdict.fits` False, with the numbers) and skipped.
A draft model's weights are added to the estimate (llama.cpp loads both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lanekit.lanes.guard import MemoryPool, check_fits, default_headroom, memory_pool
from lanekit.lanes.spec import LaneSpec


@dataclass(frozen=True)
class SizeVerdict:
    """Whether one candidate fits: bytes it needs (estimate + headroom) and bytes available."""

    fits: bool
    need_bytes: int
    available_bytes: int
    reason: str | None = None

    def to_json(self) -> dict:
        return {"fits": self.fits, "need_bytes": self.need_bytes, "available_bytes": self.available_bytes,
                "reason": self.reason}


class _Padded:
    """An estimate with extra bytes (a draft model) that still explains itself to the guard."""

    def __init__(self, estimate, extra_bytes: int, label: str) -> None:
        self._estimate, self.extra_bytes, self.label = estimate, extra_bytes, label
        self.total_bytes = int(estimate.total_bytes) + extra_bytes
        self.headroom_bytes = getattr(estimate, "headroom_bytes", 0)

    def explain(self) -> list[str]:
        return list(self._estimate.explain()) + [f"{self.label:<30}{self.extra_bytes / (1 << 30):8.2f} GiB"]


def _draft_bytes(spec: LaneSpec) -> int:
    args = list(spec.extra_args)
    for flag in ("-md", "--model-draft", "--spec-draft-model"):
        if flag in args and args.index(flag) + 1 < len(args):
            path = Path(args[args.index(flag) + 1])
            return path.stat().st_size if path.is_file() else 0
    return 0


class GuardSizer:
    """Sizes candidates with the engine's estimate and the guard's rule.

    `pool` fixes the pool (tests, or a budget below the machine's); by default it is read once,
    when the tune starts, so a candidate's own launch cannot move the line for the next one.
    `estimate` replaces the engine's estimate (a fake engine in tests)."""

    def __init__(self, pool: MemoryPool | None = None, *, estimate: Callable[[LaneSpec], object] | None = None,
                 budget_bytes: int | None = None) -> None:
        self._pool = pool
        self._estimate = estimate
        self.budget_bytes = budget_bytes

    def pool(self, spec: LaneSpec) -> MemoryPool:
        if self._pool is None:
            self._pool = memory_pool(uses_gpu=getattr(spec, "gpu_layers", None) != 0)
        pool = self._pool
        if self.budget_bytes is not None and self.budget_bytes < pool.available_bytes:
            # --memory-budget: plan against less than the machine has free (headroom still applies)
            pool = MemoryPool(pool.kind, self.budget_bytes, pool.total_bytes, f"{pool.device} (budget)")
        return pool

    def size(self, spec: LaneSpec) -> SizeVerdict:
        """The verdict for one candidate; never raises for a candidate that does not fit."""
        from lanekit.errors import LaneWontFit
        from lanekit.lanes.engine import engine_for

        estimate = self._estimate(spec) if self._estimate else engine_for(spec).memory_estimate(spec)
        draft = _draft_bytes(spec)
        if draft:
            estimate = _Padded(estimate, draft, "draft model weights")
        pool = self.pool(spec)
        headroom = default_headroom(pool) if spec.headroom_bytes is None else spec.headroom_bytes
        need = int(estimate.total_bytes) - int(getattr(estimate, "headroom_bytes", 0) or 0) + headroom
        try:
            check_fits(estimate, pool, spec.headroom_bytes, spec.name)
        except LaneWontFit as exc:
            short = need - pool.available_bytes
            return SizeVerdict(False, need, pool.available_bytes,
                               f"predicted over the memory budget by {short / (1 << 30):.2f} GiB "
                               f"({exc.message.splitlines()[0]})")
        return SizeVerdict(True, need, pool.available_bytes)
