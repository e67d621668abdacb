"""The gibberish gate (lanekit.quality.coherence) and the text-call detector."""

from __future__ import annotations

import pytest

from lanekit.doctor.checks.tool_calls import call_in_text
from lanekit.quality import judge, looks_like_gibberish


@pytest.mark.parametrize("text", ["Paris.", "The capital of France is Paris.", "Paris is the capital."])
def test_known_answer_passes(text):
    assert judge(text, ("paris",)).status == "pass"


def test_readable_wrong_answer_warns():
    assert judge("I think it is Lyon, in the south.", ("paris",)).status == "warn"


@pytest.mark.parametrize("text", ["", "   ", "!!!!!!!!!!!!!!!!!!!!!!!!", "zxq vbnm qwrtp lkjh zzxv bnmq prst",
                                  "\x00\x01\x02\x03 garbage \x04\x05\x06\x07\x08",
                                  "the cat the cat the cat the cat the cat the cat the cat the cat"])
def test_noise_fails(text):
    assert looks_like_gibberish(text) is not None
    assert judge(text, ("paris",)).status == "fail"


@pytest.mark.parametrize(("text", "form"), [
    ('```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```', "fenced ```json block"),
    ('<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>', "<tool_call> tags"),
    ('{"name": "get_weather", "arguments": {"city": "Paris"}}', "bare JSON object"),
    ('get_weather(city="Paris")', "python-style call"),
    ('[TOOL_CALLS]get_weather{"city": "Paris"}', "[TOOL_CALLS] marker"),
])
def test_call_in_text_forms(text, form):
    assert call_in_text(text) == form


def test_plain_answer_is_not_a_call():
    assert call_in_text("It is sunny in Paris today.") is None
