"""Every engine's recipe is copy-pasteable (valid shell, names a file or image the engine can load,
writes what it reads) and becomes a bakeoff plan lane."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from lanekit.bakeoff.plan import load_plan, parse_plan
from lanekit.errors import ConfigError, ModelError
from lanekit.lanes.engines.ollama import OLLAMA_NAME
from lanekit.lanes.recipes import resolve_recipe
from lanekit.lanes.spec import engine_names, parse_lane

MODEL = "Qwen/Qwen3-30B-A3B"


@pytest.mark.parametrize("engine", engine_names())
def test_recipe_is_valid_shell_and_a_plan_lane(engine):
    rec = resolve_recipe(MODEL, engine, "spark")
    script = "\n".join([*rec.pre_start, rec.command, *rec.post_start])
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0, script
    assert shlex.split(rec.command)[-len(rec.argv):] == rec.argv  # the printed line is the argv
    plan = parse_plan({"schema_version": 1, "name": "t", "lanes": [rec.spec]})
    assert plan.lane_specs()[0].engine == engine


def test_llamacpp_never_passes_an_hf_id_as_a_file():
    argv = resolve_recipe(MODEL, "llamacpp", "spark").argv
    assert "-m" not in argv and argv[argv.index("-hf") + 1] == "Qwen/Qwen3-30B-A3B-GGUF:Q4_K_M"
    with pytest.raises(ModelError) as err:
        resolve_recipe("someone/unknown-7b", "llamacpp", "spark")
    assert "GGUF" in err.value.fix


def test_ollama_pulls_a_valid_tag():
    rec = resolve_recipe(MODEL, "ollama", "spark")
    pull = next(step for step in rec.post_start if " pull " in step)
    tag = shlex.split(pull)[-1]
    assert tag == "qwen3:30b-a3b" and OLLAMA_NAME.match(tag)
    gguf = resolve_recipe("unsloth/Qwen3-30B-A3B-GGUF:Q4_K_M", "ollama", "spark")
    assert gguf.spec["model"] == "hf.co/unsloth/Qwen3-30B-A3B-GGUF:Q4_K_M"


def test_ollama_spec_refuses_an_hf_id_it_cannot_pull():
    with pytest.raises(ConfigError) as err:
        parse_lane({"name": "o", "engine": "ollama", "model": "Someone/Unknown-7B"})
    assert "not an Ollama model name" in err.value.message


def test_nim_gets_its_model_container_by_default():
    rec = resolve_recipe("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "nim", "spark")
    assert rec.argv[-1] == "nvcr.io/nim/nvidia/nvidia-nemotron-nano-9b-v2:latest"


def test_trtllm_recipe_writes_the_options_file_it_mounts(tmp_path):
    rec = resolve_recipe(MODEL, "trtllm", "spark")
    mount = next(a for a in rec.argv if a.endswith(":/lanekit/extra_llm_api_options.yml:ro"))
    path = mount.split(":")[0]
    assert any(f"cat > {path}" in step for step in rec.pre_start)


def test_recipe_add_to_builds_a_plan(tmp_path):
    from lanekit.cli.main import main

    plan = tmp_path / "bakeoff.yaml"
    assert main(["recipe", MODEL, "--engine", "llamacpp", "--add-to", str(plan)]) == 0
    assert main(["recipe", MODEL, "--engine", "vllm", "--add-to", str(plan)]) == 0
    assert main(["recipe", MODEL, "--engine", "vllm", "--add-to", str(plan)]) == 2  # same name twice
    names = [s.name for s in load_plan(plan).lane_specs()]
    assert names == ["qwen3-30b-a3b-gguf-q4_k_m-llamacpp", "qwen3-30b-a3b-vllm"]
