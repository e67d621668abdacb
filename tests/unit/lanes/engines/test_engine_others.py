"""SGLang, NIM, Ollama and TensorRT-LLM command lines, URLs and teardown."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lanekit.errors import ConfigError
from lanekit.lanes.engine import get_engine
from lanekit.lanes.spec import parse_lane


@pytest.fixture
def exe(tmp_path):
    def make(name):
        b = tmp_path / name
        b.write_text("#!/bin/sh\n")
        b.chmod(0o755)
        return str(b)
    return make


def test_sglang_bare_flags_and_metrics(exe):
    spec = parse_lane({"name": "s", "engine": "sglang", "model": "Qwen/Qwen3-30B-A3B", "python": exe("python3"),
                       "ctx": 65536, "parallel": 4, "kv_dtype": "fp8", "mem_fraction_static": 0.6,
                       "tool_call_parser": "qwen25", "reasoning_parser": "qwen3"})
    eng = get_engine("sglang")
    argv = eng.argv(spec, 30000)
    assert argv[1:5] == ["-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-30B-A3B"]
    for flag, value in (("--context-length", "65536"), ("--max-running-requests", "4"),
                        ("--kv-cache-dtype", "fp8_e4m3"), ("--mem-fraction-static", "0.6"),
                        ("--tool-call-parser", "qwen25"), ("--reasoning-parser", "qwen3")):
        assert argv[argv.index(flag) + 1] == value
    assert "--enable-metrics" in argv and "--disable-radix-cache" not in argv
    assert eng.metrics_url(spec, 30000) == "http://127.0.0.1:30000/metrics"
    assert eng.stop_argv(spec) is None


def test_sglang_in_docker_is_stopped_with_docker_stop():
    spec = parse_lane({"name": "s", "engine": "sglang", "model": "m", "image": "lmsysorg/sglang:spark"})
    eng = get_engine("sglang")
    argv = eng.argv(spec, 30000)
    assert "lmsysorg/sglang:spark" in argv and "--ipc" in argv
    assert eng.stop_argv(spec)[:2] == ["docker", "stop"]


def test_nim_env_ports_health_and_v1_metrics():
    spec = parse_lane({"name": "nim", "engine": "nim", "model": "nvidia/nvidia-nemotron-nano-9b-v2",
                       "image": "nvcr.io/nim/nvidia/nvidia-nemotron-nano-9b-v2:latest", "ctx": 65536, "parallel": 2})
    eng = get_engine("nim")
    argv = eng.argv(spec, 8001)
    assert argv[argv.index("-p") + 1] == "127.0.0.1:8001:8000"
    for assignment in ("NIM_MAX_MODEL_LEN=65536", "NIM_SERVER_PORT=8000",
                       "NIM_SERVED_MODEL_NAME=nvidia/nvidia-nemotron-nano-9b-v2", "NIM_ENABLE_KV_CACHE_REUSE=1",
                       "NIM_PASSTHROUGH_ARGS=--max-num-seqs 2"):
        assert assignment in argv
    assert "NGC_API_KEY" in argv  # forwarded by name, never by value
    assert any(a.endswith(":/opt/nim/.cache") for a in argv)
    assert eng.health_url(spec, 8001) == "http://127.0.0.1:8001/v1/health/ready"
    assert eng.metrics_url(spec, 8001) == "http://127.0.0.1:8001/v1/metrics"
    assert eng.stop_argv(spec) == ["docker", "stop", "-t", "10", "lanekit-nim"]


def test_ollama_context_travels_in_the_daemon_environment(exe):
    spec = parse_lane({"name": "o", "engine": "ollama", "model": "qwen3:30b-a3b", "binary": exe("ollama"),
                       "ctx": 65536, "parallel": 2, "kv_dtype": "q8_0"})
    eng = get_engine("ollama")
    argv = eng.argv(spec, 11500)
    assert argv[0] == "env" and argv[-1] == "serve"
    assignments = dict(a.split("=", 1) for a in argv[1:-2])
    assert assignments["OLLAMA_HOST"] == "127.0.0.1:11500"
    assert assignments["OLLAMA_CONTEXT_LENGTH"] == "65536"
    assert assignments["OLLAMA_NUM_PARALLEL"] == "2"
    assert assignments["OLLAMA_KV_CACHE_TYPE"] == "q8_0" and assignments["OLLAMA_FLASH_ATTENTION"] == "1"
    assert eng.health_url(spec, 11500).endswith("/api/version")
    assert eng.metrics_url(spec, 11500) is None
    steps = eng.prepare_steps(spec, 11500)
    assert steps[0].argv[1:] == ["pull", "qwen3:30b-a3b"]
    assert steps[1].http_post[1] == {"model": "qwen3:30b-a3b", "keep_alive": "-1"}


def test_ollama_local_gguf_is_created_from_a_modelfile(exe, tmp_path):
    gguf = tmp_path / "Qwen-Coder.gguf"
    gguf.write_bytes(b"GGUF")
    spec = parse_lane({"name": "o", "engine": "ollama", "model": str(gguf), "binary": exe("ollama"), "ctx": 65536})
    eng = get_engine("ollama")
    step = eng.prepare_steps(spec, 11434)[0]
    assert step.argv[1:3] == ["create", "lanekit-qwen-coder"]
    content = next(iter(step.files.values()))
    assert f"FROM {gguf}" in content and "PARAMETER num_ctx 65536" in content
    assert eng.model_id(spec) == "lanekit-qwen-coder"


def test_trtllm_writes_kv_options_file_and_flags(exe, tmp_path, monkeypatch):
    monkeypatch.setenv("LANEKIT_HOME", str(tmp_path / "home"))
    spec = parse_lane({"name": "t", "engine": "trtllm", "model": "openai/gpt-oss-120b", "binary": exe("trtllm-serve"),
                       "ctx": 65536, "parallel": 2, "kv_dtype": "fp8", "kv_cache_free_gpu_memory_fraction": 0.5,
                       "reasoning_parser": "deepseek-r1"})
    eng = get_engine("trtllm")
    argv = eng.argv(spec, 8000)
    assert argv[1] == "openai/gpt-oss-120b"
    for flag, value in (("--backend", "pytorch"), ("--max_batch_size", "2"), ("--max_seq_len", "65536"),
                        ("--kv_cache_free_gpu_memory_fraction", "0.5"), ("--reasoning_parser", "deepseek-r1")):
        assert argv[argv.index(flag) + 1] == value
    options = yaml.safe_load(Path(argv[argv.index("--extra_llm_api_options") + 1]).read_text())
    assert options["kv_cache_config"] == {"dtype": "fp8", "enable_block_reuse": True, "free_gpu_memory_fraction": 0.5}
    assert eng.metrics_url(spec, 8000).endswith("/prometheus/metrics")


@pytest.mark.parametrize("engine", ["sglang", "trtllm", "ollama"])
def test_llamacpp_only_kv_types_are_refused(engine):
    with pytest.raises(ConfigError):
        parse_lane({"name": "x", "engine": engine, "model": "m", "kv_dtype": "iq4_nl"})


def test_every_engine_is_registered_with_its_spec():
    from lanekit.lanes.spec import engine_names

    assert {"llamacpp", "vllm", "vllm-docker", "sglang", "nim", "ollama", "trtllm"} <= set(engine_names())
