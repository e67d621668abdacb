"""The doctor against the real llama-server: bad configurations fail with the right fix,
the healthy one passes (issue 6's "Done when")."""

from __future__ import annotations

import pytest

from lanekit.doctor import run_doctor
from lanekit.lanes import serve_lane
from lanekit.lanes.spec import parse_lane


def _lane(name, model="smollm2-135m", **fields):
    return parse_lane({"name": name, "engine": "llamacpp", "model": model, "ctx": 8192, "threads": 1,
                       "warm_timeout_s": 300, **fields})


def test_without_jinja_fails_and_names_the_flag(llama_server, smollm2_path):
    # lanekit always adds --jinja; --no-jinja in extra_args comes later on the command line and wins.
    spec = _lane("doc-nojinja", extra_args=["--no-jinja"])
    with serve_lane(spec) as lane:
        argv = lane.engine.argv(spec, lane.port)
        assert argv.index("--no-jinja") > argv.index("--jinja")
        report = run_doctor(lane.base_url, lane.model_id, engine="llamacpp")
    jinja = report.check("jinja")
    assert jinja.status == "fail" and "requires --jinja" in jinja.detail
    assert "--jinja" in jinja.fix and "--no-jinja" in jinja.fix
    assert report.check("tool_calls").status == "fail"
    assert report.verdict == "fail"


def test_small_context_fails_the_hermes_floor(llama_server, smollm2_path):
    spec = _lane("doc-8k", ctx=8192)
    with serve_lane(spec) as lane:
        report = run_doctor(lane.base_url, lane.model_id, harness="hermes")
    ctx = report.check("context")
    assert report.engine == "llamacpp"  # detected from /props
    assert ctx.status == "fail" and "8,192" in ctx.detail and "65,536" in ctx.detail
    assert ctx.fix.startswith("-c 65536 -np 1") and "ctx: 65536" in ctx.fix
    assert report.verdict == "fail"


def test_smollm2_tools_are_silently_dropped(llama_server, smollm2_path):
    with serve_lane(_lane("doc-smol")) as lane:
        report = run_doctor(lane.base_url, lane.model_id)
    tools = report.check("tool_calls")
    assert tools.status == "fail" and "tools silently dropped" in tools.detail
    assert "qwen2.5-coder-tools" in tools.fix
    # everything an agent does not need tools for is healthy
    for name in ("models", "context", "jinja", "coherence", "streaming", "usage", "metrics", "prefix_cache"):
        assert report.check(name).status == "pass", report.check(name)


@pytest.mark.slow
def test_healthy_qwen_lane_from_the_recipe_passes_for_hermes(llama_server, qwen_path):
    from lanekit.lanes.recipes import apply_recipe

    # The recipe brings the template fix, 65,536 tokens per slot, YaRN and the training-context
    # override that lifts llama-server's per-slot cap (32,768 for this model).
    spec = apply_recipe("qwen2.5-coder-1.5b", "llamacpp", "cpu", name="doc-qwen-fixed", threads=2)
    assert spec.chat_template_file == "qwen2.5-coder-tools" and spec.ctx == 65536
    with serve_lane(spec) as lane:
        report = run_doctor(lane.base_url, lane.model_id, harness="hermes", timeout_s=600)
    assert report.verdict == "pass", report.reason()
    assert "structured call get_weather" in report.check("tool_calls").detail


@pytest.mark.slow
def test_stock_qwen_template_writes_the_call_in_the_text(llama_server, qwen_path):
    spec = _lane("doc-qwen-stock", model="qwen2.5-coder-1.5b", threads=2)
    with serve_lane(spec) as lane:
        report = run_doctor(lane.base_url, lane.model_id, only=["tool_calls"], timeout_s=600)
    tools = report.check("tool_calls")
    assert tools.status == "fail" and "call written in the text as a fenced ```json block" in tools.detail
    assert "chat_template_file: qwen2.5-coder-tools" in tools.fix
