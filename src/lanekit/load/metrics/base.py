"""The metric declaration: tag, unit, direction, requirements and a `Formula:` docstring.

Record metrics read one `RequestRecord`; aggregate metrics read a list of records or server
windows. Times are integer nanoseconds (rendering converts); a metric whose inputs are missing
returns None, never a fake 0.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Kind = Literal["record", "aggregate", "server"]

METRICS: dict[str, type[Metric]] = {}


class Metric:
    """Base of every declared metric. Subclasses set the class fields and implement `formula`."""

    tag: ClassVar[str]
    unit: ClassVar[str]                 # "ns", "tok/s", "tokens", "ratio"
    larger_is_better: ClassVar[bool]
    requires: ClassVar[tuple[str, ...]]  # record fields (or inputs) that must be present
    kind: ClassVar[Kind] = "record"

    @classmethod
    def compute(cls, source: Any) -> int | float | None:
        """The value, or None when a required input is missing or the formula is undefined."""
        for name in cls.requires:
            if getattr(source, name, None) is None:
                return None
        return cls.formula(source)

    @classmethod
    def formula(cls, source: Any) -> int | float | None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The declaration as data (for docs and `--json` consumers)."""
        doc = (cls.__doc__ or "").strip()
        formula = next((ln.split("Formula:", 1)[1].strip() for ln in doc.splitlines() if "Formula:" in ln), "")
        return {"tag": cls.tag, "unit": cls.unit, "larger_is_better": cls.larger_is_better,
                "requires": list(cls.requires), "kind": cls.kind, "formula": formula}


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator: add a metric to `METRICS` under its tag (a tag is declared once)."""
    if cls.tag in METRICS:
        raise ValueError(f"metric tag {cls.tag!r} declared twice")
    if "Formula:" not in (cls.__doc__ or ""):
        raise ValueError(f"metric {cls.__name__} has no `Formula:` line in its docstring")
    METRICS[cls.tag] = cls
    return cls


class RecordSet:
    """Input of aggregate client metrics: finished records plus the wall window they ran in."""

    def __init__(self, records: list, wall_ns: int | None = None) -> None:
        self.records = [r for r in records if r.valid]
        first = min((r.start_ns for r in self.records), default=None)
        last = max((r.start_ns + r.e2e_ns for r in self.records), default=None)
        self.span_ns = (last - first) if first is not None else None
        self.wall_ns = wall_ns if wall_ns is not None else self.span_ns
        self.total_osl = sum(r.osl for r in self.records)
        self.busy_ns = _union_ns([(r.start_ns, r.start_ns + r.e2e_ns) for r in self.records])


def _union_ns(intervals: list[tuple[int, int]]) -> int | None:
    """Total length of the union of [start, end) intervals (time with ≥1 request in flight)."""
    if not intervals:
        return None
    total, cur_start, cur_end = 0, None, None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    return total + (cur_end - cur_start)
