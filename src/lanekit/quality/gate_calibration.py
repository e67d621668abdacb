"""Score the gibberish gate on labelled real replies: the confusion table and threshold sweeps.

A sample is one reply from a lane whose condition is known (`healthy` or `broken`, with the
`kind` of breakage). Positive = the gate says fail. A false pass is a broken lane's reply the
gate let through; a false fail is a healthy lane's reply it rejected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lanekit.quality.coherence import looks_like_gibberish


@dataclass(frozen=True)
class Sample:
    """One labelled reply."""

    case: str
    label: str  # healthy | broken
    kind: str
    prompt: str
    reply: str
    seed: int | None = None


@dataclass
class Confusion:
    """Counts of one gate over samples, overall and per breakage kind."""

    true_fail: int = 0
    false_pass: int = 0
    false_fail: int = 0
    true_pass: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [flagged, total]

    @property
    def false_pass_rate(self) -> float:
        broken = self.true_fail + self.false_pass
        return self.false_pass / broken if broken else float("nan")

    @property
    def false_fail_rate(self) -> float:
        healthy = self.false_fail + self.true_pass
        return self.false_fail / healthy if healthy else float("nan")

    def add(self, sample_label: str, kind: str, flagged: bool) -> None:
        if sample_label == "broken":
            self.true_fail += flagged
            self.false_pass += not flagged
        else:
            self.false_fail += flagged
            self.true_pass += not flagged
        row = self.by_kind.setdefault(kind, [0, 0])
        row[0] += flagged
        row[1] += 1


def load_samples(path: str | Path) -> list[Sample]:
    """Samples from the JSONL `benchmarks/quality/gate_cases.py` writes."""
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Sample(case=d["case"], label=d["label"], kind=d["kind"], prompt=d["prompt"],
                              reply=d["reply"], seed=(d.get("sampling") or {}).get("seed")))
    return out


def per_reply(samples: Iterable[Sample], gate: Callable[[str], str | None] = looks_like_gibberish) -> Confusion:
    """Each reply judged alone (the gate on one request)."""
    c = Confusion()
    for s in samples:
        c.add(s.label, s.kind, gate(s.reply) is not None)
    return c


@dataclass
class ProbeTable:
    """The doctor's three-way verdict (fail / warn / pass) per lane condition and per kind."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> status -> n
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, label: str, kind: str, status: str) -> None:
        for table, key in ((self.counts, label), (self.by_kind, kind)):
            row = table.setdefault(key, {"fail": 0, "warn": 0, "pass": 0})
            row[status] += 1

    def rate(self, label: str, status: str) -> float:
        row = self.counts.get(label, {})
        total = sum(row.values())
        return row.get(status, 0) / total if total else float("nan")


def per_probe(samples: Iterable[Sample]) -> ProbeTable:
    """The doctor's decision on each lane × sampling: known-answer reply + free-prose reply."""
    from lanekit.quality.coherence import KNOWN_PROMPTS, PROSE_PROMPT, probe_verdict

    groups: dict[tuple[str, int | None], dict[str, Sample]] = {}
    for s in samples:
        if s.prompt in (KNOWN_PROMPTS[0][0], PROSE_PROMPT):
            groups.setdefault((s.case, s.seed), {})[s.prompt] = s
    t = ProbeTable()
    for g in groups.values():
        if len(g) == 2:
            known, prose = g[KNOWN_PROMPTS[0][0]], g[PROSE_PROMPT]
            t.add(known.label, known.kind, probe_verdict(known.reply, prose.reply).status)
    return t


def render_probe(t: ProbeTable, title: str) -> list[str]:
    """The three-way table as text lines."""
    lines = [title, f"  {'':16}{'fail':>6}{'warn':>6}{'pass':>6}"]
    for label in ("broken", "healthy"):
        row = t.counts.get(label, {"fail": 0, "warn": 0, "pass": 0})
        lines.append(f"  {label + ' lane':16}{row['fail']:>6}{row['warn']:>6}{row['pass']:>6}")
    lines.append(f"  false-pass (broken → pass) {t.rate('broken', 'pass'):6.1%}   "
                 f"false-fail (healthy → fail) {t.rate('healthy', 'fail'):6.1%}")
    for kind, row in sorted(t.by_kind.items()):
        lines.append(f"    {kind:14}{row['fail']:>6}{row['warn']:>6}{row['pass']:>6}")
    return lines


def sweep(samples: list[Sample], values: Iterable[float], make_gate: Callable[[float], Callable[[str], str | None]]
          ) -> list[tuple[float, Confusion]]:
    """The confusion table at each threshold value (to pick the one with the fewest errors)."""
    return [(v, per_reply(samples, make_gate(v))) for v in values]


def render(c: Confusion, title: str) -> list[str]:
    """The table as text lines (fits 80 columns)."""
    lines = [title,
             f"  {'':14}{'gate: fail':>12}{'gate: pass':>12}",
             f"  {'broken lane':14}{c.true_fail:>12}{c.false_pass:>12}   false-pass {c.false_pass_rate:6.1%}",
             f"  {'healthy lane':14}{c.false_fail:>12}{c.true_pass:>12}   false-fail {c.false_fail_rate:6.1%}"]
    for kind, (flagged, total) in sorted(c.by_kind.items()):
        lines.append(f"    {kind:14} flagged {flagged:>3}/{total:<3}")
    return lines
