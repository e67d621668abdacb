"""vLLM (bare and docker): command lines against the flags the Spark field reports published."""

from __future__ import annotations

import pytest

from lanekit.errors import ConfigError
from lanekit.lanes.engine import get_engine
from lanekit.lanes.spec import parse_lane


@pytest.fixture
def vllm_bin(tmp_path):
    b = tmp_path / "vllm"
    b.write_text("#!/bin/sh\n")
    b.chmod(0o755)
    return str(b)


def test_serve_argv_carries_tool_parser_generation_config_and_sm121_flags(vllm_bin):
    # seed 000 (hermes parser for Qwen3), seed 002 (TRITON_ATTN, marlin, --generation-config vllm)
    spec = parse_lane({"name": "moe", "engine": "vllm", "model": "Qwen/Qwen3-30B-A3B-FP8", "binary": vllm_bin,
                       "ctx": 65536, "parallel": 2, "kv_dtype": "fp8", "gpu_memory_utilization": 0.75,
                       "tool_call_parser": "hermes", "reasoning_parser": "qwen3", "generation_config": "vllm",
                       "attention_backend": "TRITON_ATTN", "enable_prefix_caching": True,
                       "env": {"VLLM_NVFP4_GEMM_BACKEND": "marlin"}})
    eng = get_engine("vllm")
    assert eng.argv(spec, 8000) == [
        vllm_bin, "serve", "Qwen/Qwen3-30B-A3B-FP8", "--host", "127.0.0.1", "--port", "8000",
        "--served-model-name", "Qwen/Qwen3-30B-A3B-FP8", "--max-model-len", "65536", "--max-num-seqs", "2",
        "--kv-cache-dtype", "fp8", "--gpu-memory-utilization", "0.75", "--attention-backend", "TRITON_ATTN",
        "--generation-config", "vllm", "--enable-prefix-caching", "--enable-auto-tool-choice",
        "--tool-call-parser", "hermes", "--reasoning-parser", "qwen3"]
    assert eng.env(spec) == {"VLLM_NVFP4_GEMM_BACKEND": "marlin"}
    assert eng.health_url(spec, 8000) == "http://127.0.0.1:8000/health"
    assert eng.metrics_url(spec, 8000) == "http://127.0.0.1:8000/metrics"
    assert eng.metrics_prefix == "vllm:"
    assert eng.stop_argv(spec) is None
    assert eng.served_ctx(spec) == 65536
    assert eng.model_id(spec) == "Qwen/Qwen3-30B-A3B-FP8"


def test_api_server_launcher_uses_python_module(tmp_path):
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\n")
    py.chmod(0o755)
    spec = parse_lane({"name": "cpu", "engine": "vllm", "model": "/m/smol", "launcher": "api_server",
                       "python": str(py), "served_name": "smol"})
    argv = get_engine("vllm").argv(spec, 9000)
    assert argv[:5] == [str(py), "-m", "vllm.entrypoints.openai.api_server", "--model", "/m/smol"]
    assert argv[argv.index("--served-model-name") + 1] == "smol"
    assert "--enable-auto-tool-choice" not in argv  # no parser → no flag (the doctor reports the 400)


def test_seed_003_gptq_tp2_flags(vllm_bin):
    spec = parse_lane({"name": "big", "engine": "vllm", "model": "Qwen/Qwen3-235B-A22B-GPTQ-Int4",
                       "binary": vllm_bin, "attention_backend": "TRITON_ATTN", "quantization": "gptq_marlin",
                       "kv_dtype": "fp8", "gpu_memory_utilization": 0.87, "tensor_parallel_size": 2})
    argv = get_engine("vllm").argv(spec, 8000)
    for flag, value in (("--attention-backend", "TRITON_ATTN"), ("--quantization", "gptq_marlin"),
                        ("--kv-cache-dtype", "fp8"), ("--gpu-memory-utilization", "0.87"),
                        ("--tensor-parallel-size", "2")):
        assert argv[argv.index(flag) + 1] == value


def test_disabled_prefix_cache_and_json_flags(vllm_bin):
    spec = parse_lane({"name": "x", "engine": "vllm", "model": "m", "binary": vllm_bin,
                       "enable_prefix_caching": False, "max_output_tokens": 512,
                       "speculative_config": {"method": "mtp", "num_speculative_tokens": 3}})
    argv = get_engine("vllm").argv(spec, 8000)
    assert "--no-enable-prefix-caching" in argv
    assert argv[argv.index("--speculative-config") + 1] == '{"method":"mtp","num_speculative_tokens":3}'
    assert argv[argv.index("--override-generation-config") + 1] == '{"max_new_tokens":512}'


def test_llamacpp_kv_dtype_is_refused_with_field_path():
    with pytest.raises(ConfigError) as info:
        parse_lane({"name": "x", "engine": "vllm", "model": "m", "kv_dtype": "q8_0"})
    assert "kv_dtype" in info.value.message


def test_auto_tool_choice_without_parser_is_a_config_error(vllm_bin):
    spec = parse_lane({"name": "x", "engine": "vllm", "model": "m", "binary": vllm_bin,
                       "enable_auto_tool_choice": True})
    with pytest.raises(ConfigError):
        get_engine("vllm").argv(spec, 8000)


def test_docker_lane_has_ipc_shm_cache_mount_env_and_docker_stop(tmp_path):
    # seed 004's docker run: --gpus all, --shm-size 16g, HF cache mount, -p host:container
    spec = parse_lane({"name": "spark", "engine": "vllm-docker", "model": "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
                       "image": "nvcr.io/nvidia/vllm:26.05.post1-py3", "tool_call_parser": "hermes",
                       "env": {"VLLM_NVFP4_GEMM_BACKEND": "marlin"}, "hf_cache": str(tmp_path / "hf"),
                       "stop_grace_s": 20})
    eng = get_engine("vllm-docker")
    argv = eng.argv(spec, 8000)
    image_at = argv.index("nvcr.io/nvidia/vllm:26.05.post1-py3")
    docker, inner = argv[:image_at], argv[image_at + 1:]
    assert docker[:5] == [docker[0], "run", "--rm", "--name", "lanekit-spark"]
    assert docker[docker.index("--gpus") + 1] == "all"
    assert docker[docker.index("--ipc") + 1] == "host"
    assert docker[docker.index("--shm-size") + 1] == "16g"
    assert docker[docker.index("-p") + 1] == "127.0.0.1:8000:8000"
    assert f"{tmp_path / 'hf'}:/root/.cache/huggingface" in docker
    assert "VLLM_NVFP4_GEMM_BACKEND=marlin" in docker and "HF_TOKEN" in docker
    assert inner[:3] == ["vllm", "serve", "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"]
    assert inner[inner.index("--host") + 1] == "0.0.0.0"
    assert "--enable-auto-tool-choice" in inner
    assert eng.env(spec) == {}  # container variables travel as -e
    assert eng.stop_argv(spec) == ["docker", "stop", "-t", "20", "lanekit-spark"]


def test_docker_mounts_a_local_checkpoint_read_only(tmp_path):
    ckpt = tmp_path / "smol-hf"
    ckpt.mkdir()
    spec = parse_lane({"name": "d", "engine": "vllm-docker", "model": str(ckpt), "serve_command": [],
                       "network_host": True, "gpus": None})
    argv = get_engine("vllm-docker").argv(spec, 8123)
    assert f"{ckpt}:/models/smol-hf:ro" in argv
    assert "--network" in argv and "-p" not in argv and "--gpus" not in argv
    assert argv[argv.index("vllm/vllm-openai:latest") + 1] == "/models/smol-hf"


def test_sampling_and_the_output_cap_share_one_generation_config_override():
    import json

    from lanekit.lanes.engines.vllm import server_flags

    spec = parse_lane({"name": "v", "engine": "vllm", "model": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
                       "max_output_tokens": 512, "sampling": {"temperature": 0.7, "repeat_penalty": 1.05}})
    flags = server_flags(spec, "127.0.0.1", 8000)
    assert flags.count("--override-generation-config") == 1
    assert json.loads(flags[flags.index("--override-generation-config") + 1]) == {
        "max_new_tokens": 512, "temperature": 0.7, "repetition_penalty": 1.05}


def test_engines_without_server_sampling_refuse_it_by_name():
    from lanekit.errors import ConfigError

    with pytest.raises(ConfigError, match="sampling: NIM"):
        parse_lane({"name": "n", "engine": "nim", "model": "m", "image": "i", "sampling": {"temperature": 0.7}})
