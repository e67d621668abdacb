"""Models in the Hugging Face cache (`models--ORG--NAME/snapshots/<rev>/…`, blobs behind symlinks, as
the hub writes them) are found and accepted by lanes; `lanekit init` plans the ones that fit."""

from __future__ import annotations

import pytest
import yaml
from hf_hub_tools import hub_repo as _repo

from lanekit.errors import ModelError
from lanekit.lanes.embedded import model_path, resolve_model_file
from lanekit.lanes.hf_cache import quant_of_file, resolve_gguf, scan, snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama-cache"))
    _repo(hub, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", {"smollm2-135m-instruct-q4_1.gguf": None})
    _repo(hub, "acme/Tiny-GGUF", {"tiny-Q4_K_M.gguf": None, "tiny-Q8_0.gguf": None, "mmproj-tiny-f16.gguf": None})
    _repo(hub, "Qwen/Qwen3-30B-A3B", {"config.json": "{}", "model.safetensors": "x"})
    return hub


def test_quant_names_from_files():
    assert quant_of_file("Qwen3-30B-A3B-Q4_K_M.gguf") == "Q4_K_M"
    assert quant_of_file("gpt-oss-120b-mxfp4-00001-of-00003.gguf") == "MXFP4"
    assert quant_of_file("model.gguf") is None


def test_lane_refs_resolve_to_the_cached_gguf(hub):
    single = resolve_model_file("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF")
    assert single.name == "smollm2-135m-instruct-q4_1.gguf" and "snapshots/abc123" in str(single)
    assert resolve_gguf("acme/Tiny-GGUF:Q8_0").name == "tiny-Q8_0.gguf"
    assert resolve_gguf("acme/Tiny-GGUF/tiny-Q4_K_M.gguf").name == "tiny-Q4_K_M.gguf"
    assert resolve_gguf(str(hub / "models--acme--Tiny-GGUF") + ":Q4_K_M").name == "tiny-Q4_K_M.gguf"
    with pytest.raises(ModelError) as err:
        resolve_gguf("acme/Tiny-GGUF")
    assert "acme/Tiny-GGUF:Q4_K_M" in err.value.fix and "mmproj" not in err.value.fix


def test_a_cached_checkpoint_given_to_llamacpp_names_the_gguf_to_download(hub):
    with pytest.raises(ModelError) as err:
        resolve_model_file("Qwen/Qwen3-30B-A3B")
    assert "safetensors checkpoint" in err.value.message
    assert "hf download Qwen/Qwen3-30B-A3B-GGUF Qwen3-30B-A3B-Q4_K_M.gguf" in err.value.fix


def test_snapshot_prefers_refs_main_then_the_newest(tmp_path):
    hub = tmp_path / "hub"
    folder = _repo(hub, "a/b", {"config.json": "{}"}, rev="old")
    (folder / "snapshots" / "new").mkdir()
    assert snapshot("a/b", hub).name == "old"
    (folder / "refs" / "main").unlink()
    assert snapshot("a/b", hub).name == "new"


def test_scan_lists_ggufs_and_checkpoints(hub, tmp_path):
    loose = tmp_path / "models"
    loose.mkdir()
    (loose / "mine.Q4_0.gguf").symlink_to(model_path("smollm2-135m"))
    found = {m.ref: m for m in scan([loose])}
    assert set(found) == {"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "acme/Tiny-GGUF:Q4_K_M",
                          "acme/Tiny-GGUF:Q8_0", "Qwen/Qwen3-30B-A3B", str(loose / "mine.Q4_0.gguf")}
    assert found["Qwen/Qwen3-30B-A3B"].kind == "checkpoint"
    assert found["acme/Tiny-GGUF:Q8_0"].bytes == model_path("smollm2-135m").stat().st_size


def test_init_writes_a_plan_of_lanes_that_fit_with_download_advice(hub, tmp_path, monkeypatch):
    from lanekit.bakeoff.plan import load_plan
    from lanekit.cli.main import main

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no docker, no vllm: checkpoints are skipped, said why
    out = tmp_path / "bakeoff.yaml"
    assert main(["init", "--hw", "spark", "--out", str(out), "--json"]) == 0
    plan = load_plan(out)
    models = sorted(s.model for s in plan.lane_specs())
    assert models == ["acme/Tiny-GGUF:Q4_K_M", "acme/Tiny-GGUF:Q8_0"]  # SmolLM2: no tool support
    spec = plan.lane_specs()[0]
    assert spec.ctx == 65536 and spec.gpu_layers == 999  # from the spark recipe, Hermes' floor
    text = out.read_text()
    assert "# skipped:" in text and "no vLLM here" in text and "no tool-call support" in text
    assert "download Qwen/Qwen3-30B-A3B-GGUF Qwen3-30B-A3B-Q4_K_M.gguf (~18.6 GB)" in text
    assert main(["init", "--hw", "spark", "--out", str(out)]) == 0  # same content: rewritten in place
    doc = yaml.safe_load(text)
    doc["name"] = "edited"
    out.write_text(yaml.safe_dump(doc))
    assert main(["init", "--hw", "spark", "--out", str(out)]) == 2  # an edited plan is not replaced
    assert main(["init", "--hw", "spark", "--out", str(out), "--force"]) == 0
    assert (tmp_path / "bakeoff.yaml.bak").read_text().startswith("description")
