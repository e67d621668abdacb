"""What the guard assumes for vLLM / SGLang / llama.cpp lanes: one meaning of ctx, engine defaults."""

from __future__ import annotations

import pytest

from lanekit.catalog.memory import GIB
from lanekit.errors import LaneWontFit
from lanekit.lanes import guard
from lanekit.lanes.engine import get_engine
from lanekit.lanes.spec import parse_lane


@pytest.fixture
def gpu_pool(monkeypatch: pytest.MonkeyPatch):
    """An 80 GiB discrete GPU, whatever this machine has."""
    def pool(uses_gpu: bool = True) -> guard.MemoryPool:
        return guard.MemoryPool("gpu", 79 * GIB, 80 * GIB, "NVIDIA H100 80GB HBM3")

    monkeypatch.setattr(guard, "memory_pool", pool)


def _vllm(**fields):
    return parse_lane({"name": "v", "engine": "vllm", "model": "Qwen/Qwen3-30B-A3B", **fields})


def test_vllm_left_unset_is_assumed_to_take_90_percent_of_the_pool(gpu_pool) -> None:
    est = get_engine("vllm").memory_estimate(_vllm(ctx=32768, parallel=4))
    assert est.gpu_memory_utilization == 0.9 and est.utilization_assumed
    assert est.reserved_bytes == int(0.9 * 80 * GIB) and est.total_bytes == est.reserved_bytes + est.headroom_bytes
    set_ = get_engine("vllm").memory_estimate(_vllm(ctx=32768, parallel=4, gpu_memory_utilization=0.85))
    assert set_.reserved_bytes == int(0.85 * 80 * GIB) and not set_.utilization_assumed


def test_vllm_needs_one_full_length_request_not_ctx_times_seqs(gpu_pool) -> None:
    # BF16 Qwen3-30B-A3B: 61 GB of weights; 16 x 32K tokens would not fit 72 GiB, one 32K request does
    est = get_engine("vllm").memory_estimate(_vllm(ctx=32768, parallel=16))
    assert est.kv_needed_bytes > est.kv_bytes >= est.kv_one_sequence_bytes
    assert 1 <= est.full_length_sequences < 16


def test_vllm_that_would_refuse_to_start_is_refused_by_the_guard(gpu_pool) -> None:
    with pytest.raises(LaneWontFit, match="refuses to start"):
        get_engine("vllm").memory_estimate(_vllm(ctx=262144, parallel=1, gpu_memory_utilization=0.85))


def test_vllm_docker_lane_gets_the_same_assumption(gpu_pool) -> None:
    spec = parse_lane({"name": "d", "engine": "vllm-docker", "model": "Qwen/Qwen3-30B-A3B", "image": "vllm/vllm",
                       "ctx": 8192})
    assert get_engine("vllm-docker").memory_estimate(spec).utilization_assumed


def test_vllm_cpu_kv_space_comes_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "memory_pool",
                        lambda uses_gpu=True: guard.MemoryPool("system", 20 * GIB, 24 * GIB, "system memory"))
    spec = parse_lane({"name": "c", "engine": "vllm", "model": "Qwen/Qwen3-32B", "ctx": 4096,
                       "env": {"VLLM_CPU_KVCACHE_SPACE": "2"}})
    est = get_engine("vllm").memory_estimate(spec)
    assert est.kv_bytes == 2 * GIB and est.reserved_bytes is None


def test_sglang_unset_fraction_is_assumed(gpu_pool) -> None:
    spec = parse_lane({"name": "s", "engine": "sglang", "model": "Qwen/Qwen3-30B-A3B", "ctx": 16384})
    est = get_engine("sglang").memory_estimate(spec)
    assert est.utilization_assumed and est.reserved_bytes == int(0.9 * 80 * GIB)


def test_llamacpp_lane_ctx_is_per_request_like_its_argv(smollm2_path) -> None:
    spec = parse_lane({"name": "l", "engine": "llamacpp", "model": str(smollm2_path), "ctx": 4096, "parallel": 3})
    eng = get_engine("llamacpp")
    est = eng.memory_estimate(spec)
    argv = eng.argv(spec, 8080)
    assert argv[argv.index("-c") + 1] == str(est.total_ctx) == str(4096 * 3)
    assert est.kv_bytes == est.kv_bytes_per_token * 4096 * 3


@pytest.fixture
def smollm2_path():
    from lanekit.lanes.embedded import model_path

    try:
        return model_path("smollm2-135m")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"embedded SmolLM2 not installed: {exc}")
