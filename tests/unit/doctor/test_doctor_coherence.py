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


SOUP = (" physicssignificantор physics tutorsGetty settle admitting Humans sacraments frustrating remoti "
        "Chopin Exam kicks pondering guilty carcin")  # a real reply of a random-weight SmolLM2-shape file


def _doctor_with_prose(prose: str):
    """A fake lane that answers the capital prompt right and the prose prompt with `prose`."""
    import json
    import sys
    from pathlib import Path

    import httpx

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_lane import fake_lane

    from lanekit.doctor import run_doctor
    from lanekit.quality.coherence import PROSE_PROMPT

    inner, _ = fake_lane()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions":
            body = json.loads(request.content)
            if body["messages"][-1]["content"] == PROSE_PROMPT:
                return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": prose},
                                                              "finish_reason": "length"}]})
        return inner.handle_request(request)

    return run_doctor("http://lane.test:8000/v1", None, transport=httpx.MockTransport(handle)).check("coherence")


def test_right_short_answer_but_soup_in_free_prose_fails_the_doctor():
    check = _doctor_with_prose(SOUP)
    assert check.status == "fail" and "free prose" in check.detail and "lanekit quality" in check.fix


def test_right_short_answer_and_real_prose_passes_the_doctor():
    check = _doctor_with_prose("The ocean is a vast body of salt water that covers most of the Earth.")
    assert check.status == "pass"


@pytest.mark.parametrize("text", [
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
    "```python\ndef add(a, b):\n    return a + b\n```\nThis function returns the sum of a and b.",
    "def add_numbers(num1, num2):\n    return num1 + num2\n\nprint(add_numbers(2, 3))",
    "Bonjour ! On dit « bonjour » le matin, et « bonsoir » le soir.",
])
def test_healthy_numbers_code_and_french_are_not_gibberish(text):
    assert looks_like_gibberish(text) is None


@pytest.mark.parametrize("text", [
    SOUP,
    " Exciting Exciting Exciting Exciting Exciting Exciting Exciting Exciting Exciting Exciting",
    "<|im_start|>assistant\nParis<|im_end|>\n<|im_start|>user\nWhat",
])
def test_real_failure_shapes_are_gibberish(text):
    assert looks_like_gibberish(text) is not None
