"""A Spark owner's first steps on a box whose models are already in the Hugging Face cache:
`lanekit init` plans them, the planned lane (an HF-cache reference, not a path) starts the real
llama-server, answers a chat request and is torn down verified; a recipe turned into a lane with
`lanekit recipe --add-to` joins the same plan."""

from __future__ import annotations

import httpx
from hf_hub_tools import hub_repo

from lanekit.bakeoff.plan import load_plan
from lanekit.cli.main import main
from lanekit.lanes import serve_lane

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


def test_init_plans_the_cached_model_and_its_lane_serves(llama_server, tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama-cache"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/models of the machine's owner
    hub_repo(hub, REPO, {"smollm2-135m-instruct-q4_1.gguf": None})
    out = tmp_path / "bakeoff.yaml"
    # SmolLM2 calls no tools: without a harness floor it is a plain lane (the CPU recipe)
    assert main(["init", "--hw", "cpu", "--harness", "none", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    flat = " ".join(said.split())  # the console wraps long lines at 80 columns
    assert ": 1 model\n" in said and "download " in said and f"wrote {out} (1 lane)" in flat
    assert all(len(line) <= 80 for line in said.splitlines() if line.startswith(("  ", "would", "hardware")))
    plan = load_plan(out)
    [spec] = plan.lane_specs()
    assert spec.model == REPO and spec.engine == "llamacpp"
    spec = spec.model_copy(update={"ctx": 1024, "threads": 1, "name": "it-init"})
    with serve_lane(spec) as lane:
        reply = httpx.post(f"{lane.base_url}/chat/completions", timeout=120, json={
            "model": lane.model_id, "max_tokens": 8, "messages": [{"role": "user", "content": "Say hello."}]})
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"].strip()
        served = lane.popen.args if lane.popen else []
    assert any(str(a).endswith("smollm2-135m-instruct-q4_1.gguf") for a in served), served  # the cached file
    assert lane.teardown.verified

    assert main(["recipe", f"{REPO}:Q4_1", "--engine", "llamacpp", "--hw", "cpu", "--harness", "none",
                 "--name", "from-recipe", "--add-to", str(out)]) == 0
    names = [s.name for s in load_plan(out).lane_specs()]
    assert names[-1] == "from-recipe" and len(names) == 2
