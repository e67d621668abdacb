"""Print the gibberish gate's confusion tables and threshold sweeps on collected replies.

    python3 benchmarks/quality/gate_report.py [tests/unit/quality/data/gate_replies.jsonl]

Tables: every reply judged alone; the doctor's probe (the capital-of-France prompt, then
with the one-sentence prose prompt too); the gate before this calibration (stats only); and
sweeps of the two calibrated thresholds (char-trigram log-prob, function-word share).
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

from lanekit.quality import coherence
from lanekit.quality.coherence import looks_like_gibberish
from lanekit.quality.gate_calibration import load_samples, per_probe, per_reply, render, render_probe, sweep

DEFAULT = Path(__file__).resolve().parents[2] / "tests/unit/quality/data/gate_replies.jsonl"


def _with(**values):
    def make(text: str):
        with mock.patch.multiple(coherence, **values):
            return looks_like_gibberish(text)
    return make


def main() -> None:
    """Print every table."""
    samples = load_samples(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
    print(f"{len(samples)} replies from {len({s.case for s in samples})} lanes\n")
    for line in render(per_reply(samples), "every reply alone (calibrated gate)"):
        print(line)
    print()
    for line in render_probe(per_probe(samples), "the doctor's coherence check (capital + prose probe), "
                                                 "one verdict per lane x sampling"):
        print(line)
    print()
    old = _with(CHAR_LOGPROB_MIN=-99.0, FUNCTION_WORD_SHARE_MIN=-1.0, JUNK_PUNCT_PER_WORD_MAX=99.0,
                COMPRESSION_RATIO_MIN=0.0)
    for line in render(per_reply(samples, old), "every reply alone, without the four calibrated rules"):
        print(line)
    print("\nsweep CHAR_LOGPROB_MIN (function-word rule as shipped):")
    for v, c in sweep(samples, [-2.8, -2.9, -3.0, -3.1, -3.2, -3.4, -3.6, -3.8, -4.1, -4.5],
                      lambda v: _with(CHAR_LOGPROB_MIN=v)):
        print(f"  {v:6.2f}  false-pass {c.false_pass_rate:6.1%}  false-fail {c.false_fail_rate:6.1%}")
    print("sweep COMPRESSION_RATIO_MIN:")
    for v, c in sweep(samples, [0.0, 0.2, 0.25, 0.3, 0.33, 0.36, 0.4], lambda v: _with(COMPRESSION_RATIO_MIN=v)):
        print(f"  {v:6.2f}  false-pass {c.false_pass_rate:6.1%}  false-fail {c.false_fail_rate:6.1%}")
    print("sweep JUNK_PUNCT_PER_WORD_MAX:")
    for v, c in sweep(samples, [0.05, 0.1, 0.15, 0.2, 0.3], lambda v: _with(JUNK_PUNCT_PER_WORD_MAX=v)):
        print(f"  {v:6.2f}  false-pass {c.false_pass_rate:6.1%}  false-fail {c.false_fail_rate:6.1%}")
    print("sweep FUNCTION_WORD_SHARE_MIN (char rule as shipped):")
    for v, c in sweep(samples, [0.0, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25],
                      lambda v: _with(FUNCTION_WORD_SHARE_MIN=v)):
        print(f"  {v:6.2f}  false-pass {c.false_pass_rate:6.1%}  false-fail {c.false_fail_rate:6.1%}")


if __name__ == "__main__":
    main()
