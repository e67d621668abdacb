"""Bakeoff plan validation, grid expansion and lane selection."""

from __future__ import annotations

import pytest

from lanekit.bakeoff.plan import default_plan, load_plan, parse_plan
from lanekit.errors import ConfigError


def test_default_plan_tells_the_story():
    plan = default_plan()
    names = [s.name for s in plan.lane_specs()]
    assert names == ["smollm2-135m", "qwen-coder-stock", "qwen-coder-fixed"]
    fixed = plan.lane_specs()[2]
    assert fixed.chat_template_file == "qwen2.5-coder-tools"
    assert fixed.ctx >= 65_536  # Hermes' floor, per request
    quick = plan.quick()
    assert quick.bench.single.max_tokens < plan.bench.single.max_tokens  # shorter, never fewer than 3 samples
    assert quick.digest() != plan.digest()


def test_grid_expands_and_names_lanes():
    plan = parse_plan({"grid": [{"base": {"name": "q", "model": "smollm2-135m"},
                                 "vary": {"kv_dtype": ["f16", "q8_0"], "parallel": [1, 2]}}]})
    names = sorted(s.name for s in plan.lane_specs())
    assert names == ["q-kv_dtypef16-parallel1", "q-kv_dtypef16-parallel2", "q-kv_dtypeq8_0-parallel1",
                     "q-kv_dtypeq8_0-parallel2"]


def test_plan_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"bench\.single\.samples"):
        parse_plan({"lanes": [{"name": "a", "model": "m"}], "bench": {"single": {"samples": 0}}})
    with pytest.raises(ConfigError, match=r"lanes\[0\]\.ctx"):
        parse_plan({"lanes": [{"name": "a", "model": "m", "ctx": 1}]})
    with pytest.raises(ConfigError, match="no lanes"):
        parse_plan({})
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "missing.yaml")


def test_select_returns_a_validated_plan_of_the_named_lanes():
    plan = default_plan()
    picked = plan.select(["qwen-coder-fixed"])
    assert [s.name for s in picked.lane_specs()] == ["qwen-coder-fixed"]
    assert picked.lane_specs()[0].chat_template_file == "qwen2.5-coder-tools"
    assert [s.name for s in plan.lane_specs()] == ["smollm2-135m", "qwen-coder-stock", "qwen-coder-fixed"]
    with pytest.raises(ConfigError, match="unknown lane"):
        plan.select(["nope"])


def test_the_workload_comes_first_and_long_context_defaults_to_the_harness_floor():
    plan = parse_plan({"lanes": [{"name": "a", "model": "m"}]})
    assert plan.bench.replay.trace == "embedded:core" and plan.bench.replay.repeats >= 3
    assert plan.bench.context.resolved_depths() == [16_384, 32_768, 64_000]  # Hermes refuses below 64,000
    own = parse_plan({"lanes": [{"name": "a", "model": "m"}],
                      "bench": {"replay": {"trace": "my.trace.jsonl", "mode": "delta", "repeats": 5},
                                "context": {"depths": [2048]}}})
    assert own.bench.replay.mode == "delta" and own.bench.context.resolved_depths() == [2048]
    with pytest.raises(ConfigError, match=r"bench\.replay\.mode"):
        parse_plan({"lanes": [{"name": "a", "model": "m"}], "bench": {"replay": {"mode": "fast"}}})
    off = parse_plan({"lanes": [{"name": "a", "model": "m"}], "bench": {"replay": None, "context": None}})
    assert off.bench.replay is None and off.bench.context is None
    # speeds get at least three repeats even trimmed
    quick = default_plan().quick()
    assert quick.bench.single.samples >= 3 and quick.bench.replay.repeats >= 3
