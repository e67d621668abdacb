"""The search space: per-engine flags, apply() into a real lane spec, refusals, sizing of real specs."""

from __future__ import annotations

import pytest

from lanekit.errors import ConfigError
from lanekit.lanes.guard import MemoryPool
from lanekit.lanes.spec import parse_lane
from lanekit.tune import GuardSizer, apply, space_for
from lanekit.tune.finalists import conservative_score
from lanekit.tune.space import invalid

GIB = 1 << 30


def smol(**kw):
    return parse_lane({"name": "smol", "model": "smollm2-135m", **kw})


def test_llamacpp_point_becomes_flags_replacing_the_specs_own():
    spec = smol(extra_args=["-b", "64", "--no-repack", "--top-k", "5"])
    out = apply(spec, {"threads": 2, "batch": 1024, "ubatch": 256, "kv_dtype": "q8_0", "parallel": 2,
                       "flash_attn": "on", "cache_reuse": 256, "repack": True})
    assert out.threads == 2 and out.kv_dtype == "q8_0" and out.parallel == 2 and out.flash_attn == "on"
    assert out.extra_args == ["--top-k", "5", "-b", "1024", "-ub", "256", "--cache-reuse", "256"]


def test_quantized_kv_without_flash_attention_is_never_a_grid_point():
    space = space_for(smol())
    assert invalid("llamacpp", {"kv_dtype": "q8_0", "flash_attn": "off"})
    assert all(invalid("llamacpp", p) is None for p in space.grid())
    assert len(space.grid()) < space.size()


def test_vllm_space_follows_the_hardware_profile():
    spec = parse_lane({"name": "v", "engine": "vllm", "model": "Qwen/Qwen3-8B", "kv_dtype": "auto"})
    spark = {p.name: p.choices for p in space_for(spec, hw="spark").params}
    assert spark["attention_backend"] == ("TRITON_ATTN",)
    assert max(spark["gpu_memory_utilization"]) <= 0.85
    point = {p.name: p.choices[-1] for p in space_for(spec, hw="spark").params}
    out = apply(spec, point)
    assert out.parallel == point["parallel"] and out.enable_prefix_caching is False


def test_an_unknown_param_names_the_tunable_ones():
    with pytest.raises(ConfigError, match="threads"):
        space_for(smol()).restrict({"thread": [1]})


def test_a_real_spec_over_the_pool_is_sized_out_with_the_numbers():
    pool = MemoryPool("system", 3 * GIB, 24 * GIB, "test pool")
    sizer = GuardSizer(pool)
    small, big = smol(ctx=2048), smol(ctx=32768, parallel=16)
    assert sizer.size(small).fits
    verdict = sizer.size(big)
    assert not verdict.fits and verdict.need_bytes > verdict.available_bytes == 3 * GIB
    assert "GiB" in verdict.reason


def test_memory_budget_lowers_the_pool():
    pool = MemoryPool("system", 20 * GIB, 24 * GIB, "test pool")
    assert not GuardSizer(pool, budget_bytes=GIB).size(smol()).fits


def test_conservative_score_is_median_minus_k_mad():
    assert conservative_score([10, 12, 11, 30], 1.0, True) == (11.5, 1.0, 10.5)
    assert conservative_score([2.0, 2.2, 2.1], 2.0, False)[2] == pytest.approx(2.1 + 2 * 0.1)
