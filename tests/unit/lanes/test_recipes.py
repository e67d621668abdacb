"""Recipes: the flags the seeds' fights were won with come out of data, per engine × hardware."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.errors import ConfigError
from lanekit.lanes.recipes import apply_recipe, find_family, resolve_recipe
from lanekit.lanes.spec import LaneSpec


def flag(argv, name):
    return argv[argv.index(name) + 1]


def test_qwen3_moe_vllm_on_spark_has_every_field_fix():
    rec = resolve_recipe("Qwen/Qwen3-30B-A3B-FP8", "vllm", "spark")
    argv = rec.argv
    assert "--enable-auto-tool-choice" in argv and flag(argv, "--tool-call-parser") == "hermes"  # fight #2
    assert flag(argv, "--reasoning-parser") == "qwen3"
    assert flag(argv, "--generation-config") == "vllm"  # thinking mode hid the calls
    assert flag(argv, "--attention-backend") == "TRITON_ATTN"  # no FlashInfer sm_121 cubins
    assert rec.env["VLLM_NVFP4_GEMM_BACKEND"] == "marlin"
    assert flag(argv, "--kv-cache-dtype") == "fp8"
    assert "--enable-prefix-caching" in argv
    assert int(flag(argv, "--max-model-len")) >= 65536  # fight #1: Hermes' 64K floor
    # native 40,960 → YaRN rope scaling, as Qwen documents
    assert json.loads(flag(argv, "--hf-overrides"))["rope_scaling"]["rope_type"] == "yarn"


def test_gpu_memory_utilization_is_derived_not_the_default():
    small = resolve_recipe("Qwen/Qwen3-30B-A3B-FP8", "vllm", "spark")
    big = resolve_recipe("Qwen/Qwen3-30B-A3B", "vllm", "spark", parallel=4)
    u_small, u_big = (float(flag(r.argv, "--gpu-memory-utilization")) for r in (small, big))
    assert 0.1 <= u_small < u_big <= 0.85  # never vLLM's 0.9 on unified memory
    assert small.sizing["need_bytes"] > small.sizing["weights_bytes"] > 0
    assert any("memory fraction" in n for n in small.notes)


def test_unsizeable_model_falls_back_with_a_note():
    rec = resolve_recipe("someone/unknown-model-7b", "vllm", "spark")
    assert float(flag(rec.argv, "--gpu-memory-utilization")) == 0.7
    assert any("not in the catalog" in n for n in rec.notes)
    assert any("no tool-call parser" in n for n in rec.notes)


def test_docker_recipe_uses_the_ngc_image_with_ipc_shm_and_cache():
    rec = resolve_recipe("Qwen/Qwen3.5-122B-A10B-NVFP4", "vllm-docker", "spark")
    argv = rec.argv
    assert "nvcr.io/nvidia/vllm:26.05.post1-py3" in argv
    assert flag(argv, "--ipc") == "host" and flag(argv, "--shm-size") == "16g"
    assert any(a.endswith(":/root/.cache/huggingface") for a in argv)
    assert "VLLM_NVFP4_GEMM_BACKEND=marlin" in argv
    assert flag(argv, "--tool-call-parser") == "qwen3_xml"
    assert rec.stop[:2] == ["docker", "stop"]


@pytest.mark.parametrize(("model", "engine", "parser_flag", "parser"), [
    ("meta-llama/Llama-3.3-70B-Instruct", "vllm", "--tool-call-parser", "llama3_json"),
    ("mistralai/Devstral-Small-2-24B-Instruct-2512", "vllm", "--tool-call-parser", "mistral"),
    ("openai/gpt-oss-120b", "vllm", "--tool-call-parser", "openai"),
    ("deepseek-ai/DeepSeek-V3.1", "vllm", "--tool-call-parser", "deepseek_v31"),
    ("Qwen/Qwen3-Coder-Next", "vllm", "--tool-call-parser", "qwen3_coder"),
    ("Qwen/Qwen3-30B-A3B", "sglang", "--tool-call-parser", "qwen25"),
    ("openai/gpt-oss-120b", "sglang", "--reasoning-parser", "gpt-oss"),
])
def test_family_parsers(model, engine, parser_flag, parser):
    assert flag(resolve_recipe(model, engine, "spark").argv, parser_flag) == parser


def test_qwen25_coder_on_llamacpp_ships_the_template_fix():
    rec = resolve_recipe("qwen2.5-coder-1.5b", "llamacpp", "cpu", ctx=8192, harness=None)
    path = flag(rec.argv, "--chat-template-file")
    assert path.endswith("templates/qwen2.5-coder-tools.jinja")
    text = Path(path).read_text()
    assert "```json" in text and "<tool_call>" not in text  # the fence is the delimiter, twice
    assert flag(rec.argv, "-c") == "8192" and flag(rec.argv, "-ngl") == "0"


def test_llamacpp_hermes_context_is_per_slot():
    rec = resolve_recipe("Qwen/Qwen3-30B-A3B", "llamacpp", "spark", parallel=2)
    assert rec.served_ctx == 65536
    assert flag(rec.argv, "-c") == str(65536 * 2) and flag(rec.argv, "-np") == "2"
    assert flag(rec.argv, "--rope-scaling") == "yarn"  # 40,960 native → YaRN from 32,768
    assert flag(rec.argv, "--yarn-orig-ctx") == "32768"
    assert flag(rec.argv, "-ctk") == "q8_0"


def test_ollama_recipe_sets_context_env_and_pull_step():
    rec = resolve_recipe("qwen3:30b-a3b", "ollama", "spark")
    assert "OLLAMA_CONTEXT_LENGTH=65536" in rec.argv
    assert rec.post_start[0].endswith("ollama pull qwen3:30b-a3b")
    assert rec.metrics_url is None


def test_trtllm_and_nim_recipes():
    trt = resolve_recipe("openai/gpt-oss-120b", "trtllm", "spark")
    assert "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc18" in trt.argv
    assert 0 < float(flag(trt.argv, "--kv_cache_free_gpu_memory_fraction")) <= 0.85
    nim = resolve_recipe("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "nim", "spark",
                         image="nvcr.io/nim/nvidia/nvidia-nemotron-nano-9b-v2:latest")
    assert "NIM_MAX_MODEL_LEN=65536" in nim.argv
    assert nim.metrics_url.endswith("/v1/metrics")


def test_overrides_win_and_apply_recipe_returns_a_valid_spec():
    spec = apply_recipe("Qwen/Qwen3-30B-A3B-FP8", "vllm", "spark", name="moe", port=8001, ctx=131072,
                        gpu_memory_utilization=0.5, tool_call_parser="hermes")
    assert isinstance(spec, LaneSpec) and spec.engine == "vllm"
    assert (spec.name, spec.port, spec.ctx, spec.gpu_memory_utilization) == ("moe", 8001, 131072, 0.5)
    assert spec.generation_config == "vllm" and spec.attention_backend == "TRITON_ATTN"


def test_below_floor_context_is_allowed_but_noted():
    rec = resolve_recipe("smollm2-135m", "llamacpp", "cpu", ctx=8192)
    assert any("below the hermes floor" in n for n in rec.notes)
    assert any("no tool-call support" in n for n in rec.notes)


def test_vllm_cpu_recipe_sizes_the_kv_space():
    rec = resolve_recipe("Qwen/Qwen3-30B-A3B", "vllm", "cpu", ctx=4096, harness=None)
    assert flag(rec.argv, "-m") == "vllm.entrypoints.openai.api_server"
    assert int(rec.env["VLLM_CPU_KVCACHE_SPACE"]) >= 1
    assert "--gpu-memory-utilization" not in rec.argv


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError):
        resolve_recipe("m", "nope", "spark")
    with pytest.raises(ConfigError):
        resolve_recipe("m", "vllm", "tpu")
    with pytest.raises(ConfigError):
        resolve_recipe("m", "vllm", "spark", harness="claude")


def test_family_lookup_order():
    assert find_family("Qwen/Qwen2.5-Coder-7B-Instruct").id == "qwen2.5-coder"
    assert find_family("Qwen/Qwen3-30B-A3B-Instruct-2507-FP8").id == "qwen3-2507"
    assert find_family("Qwen/Qwen3-Coder-30B-A3B-Instruct").id == "qwen3-coder"
    assert find_family("smollm2-135m").tools is False


def test_cli_recipe_json_is_stable(capsys):
    from lanekit.cli.main import main

    assert main(["recipe", "Qwen/Qwen3-30B-A3B-FP8", "--engine", "vllm", "--hw", "spark", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    assert {"model", "engine", "hw", "harness", "family", "spec", "argv", "env", "command", "post_start", "stop",
            "health_url", "metrics_url", "served_ctx", "sizing", "layers", "notes"} <= set(doc)
    assert "--tool-call-parser hermes" in doc["command"]


def test_cli_recipe_text_prints_one_copyable_line(capsys):
    from lanekit.cli.main import main

    assert main(["recipe", "Qwen/Qwen3-30B-A3B-FP8", "--engine", "vllm-docker", "--set", "shm_size=32g"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("docker run ") and "--shm-size 32g" in lines[1]


def test_llamacpp_long_context_lifts_the_training_context_cap():
    from lanekit.errors import ModelError
    from lanekit.lanes.embedded import model_path

    try:
        model_path("qwen2.5-coder-1.5b")
    except ModelError:
        pytest.skip("embedded Qwen2.5-Coder not installed")
    rec = resolve_recipe("qwen2.5-coder-1.5b", "llamacpp", "cpu")
    # llama-server caps each slot at the GGUF's training context (32,768) whatever -c says
    assert flag(rec.argv, "--override-kv") == "qwen2.context_length=int:65536"
    assert flag(rec.argv, "--yarn-orig-ctx") == "32768"
    # a catalog id: its known GGUF repo, fetched by llama-server (-hf), the cap lifted by the GGUF arch name
    catalog_only = resolve_recipe("Qwen/Qwen3-30B-A3B", "llamacpp", "spark")
    assert flag(catalog_only.argv, "-hf") == "Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M" and "-m" not in catalog_only.argv
    assert flag(catalog_only.argv, "--override-kv") == "qwen3moe.context_length=int:65536"
