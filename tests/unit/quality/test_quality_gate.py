"""The gibberish gate on real replies of healthy and deliberately broken llama-server lanes.

data/gate_replies.jsonl was collected by benchmarks/quality/gate_cases.py (random-weight synth
files, corrupted tensors, wrong chat templates, wrong RoPE/YaRN, a broken quant, and the
embedded models healthy). These pin the calibrated gate's error rates on that data.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from lanekit.quality import coherence
from lanekit.quality.gate_calibration import Confusion, load_samples, per_probe, per_reply

DATA = Path(__file__).with_name("data") / "gate_replies.jsonl"


@pytest.fixture(scope="module")
def samples():
    return load_samples(DATA)


def test_the_data_covers_every_failure_kind(samples):
    kinds = {s.kind for s in samples}
    assert {"healthy", "synth", "corrupt", "template", "rope", "broken-quant"} <= kinds
    assert sum(s.label == "healthy" for s in samples) >= 100


def test_healthy_replies_almost_never_fail(samples):
    assert per_reply(samples).false_fail_rate <= 0.02


def test_random_weight_and_corrupted_lanes_are_flagged(samples):
    c = per_reply(samples)
    flagged, total = c.by_kind["synth"]
    assert flagged == total
    flagged, total = c.by_kind["corrupt"]
    assert flagged / total >= 0.9


def test_the_doctor_never_fails_a_healthy_lane_and_rarely_passes_a_broken_one(samples):
    t = per_probe(samples)
    assert t.rate("healthy", "fail") == 0.0
    assert t.rate("broken", "pass") <= 0.2


def test_the_calibrated_rules_are_what_catch_word_soup(samples):
    off = {"CHAR_LOGPROB_MIN": -99.0, "FUNCTION_WORD_SHARE_MIN": -1.0, "JUNK_PUNCT_PER_WORD_MAX": 99.0,
           "COMPRESSION_RATIO_MIN": 0.0}

    def gate(text):
        with mock.patch.multiple(coherence, **off):
            return coherence.looks_like_gibberish(text)

    assert per_reply(samples, gate).false_pass_rate > per_reply(samples).false_pass_rate + 0.2


def test_confusion_counts_flagged_broken_as_true_fail():
    c = Confusion()
    c.add("broken", "synth", True)
    c.add("broken", "rope", False)
    c.add("healthy", "healthy", True)
    c.add("healthy", "healthy", False)
    assert (c.true_fail, c.false_pass, c.false_fail, c.true_pass) == (1, 1, 1, 1)
    assert c.false_pass_rate == 0.5 and c.false_fail_rate == 0.5
