"""The llama-swap config: the lane's exact command with ${PORT}, what llama-swap needs to run and
stop it, eligible lanes first, groups from an appliance file."""

from __future__ import annotations

import shlex

import yaml
from sample_run import lane_result

from lanekit.report.render.launch import lane_command
from lanekit.report.render.llama_swap import appliance_groups, render_llama_swap
from lanekit.results.models import BakeoffReport, Failure
from lanekit.results.ranking import RankingCfg, rank


def _report(lanes):
    return BakeoffReport(run_id="r1", plan_name="p", lanes=lanes, ranking=rank(lanes, RankingCfg()))


def _llama_swap_argv(cmd: str, port: int) -> list[str]:
    """What llama-swap runs: comment lines dropped, `${PORT}` substituted, POSIX shell words."""
    text = "\n".join(line for line in cmd.splitlines() if not line.strip().startswith("#"))
    return shlex.split(text.replace("${PORT}", str(port)))


def test_each_lane_runs_the_engines_exact_command_on_the_port_llama_swap_picks():
    lanes = [lane_result("qwen-q8", 29.5), lane_result("qwen-fixed", 30.0), lane_result("smollm2", 180.0, eligible=False)]
    doc = yaml.safe_load(render_llama_swap(_report(lanes)))
    assert list(doc["models"]) == ["qwen-fixed", "qwen-q8", "smollm2"]  # rank order, disqualified last
    for x in lanes:
        entry = doc["models"][x.name]
        argv, _ = lane_command(x.spec, 5811)
        got = _llama_swap_argv(entry["cmd"], 5811)
        if x.name == "qwen-fixed":  # the template comes from the copy beside the launch scripts
            at = got.index("--chat-template-file") + 1
            assert got[at].endswith("qwen2.5-coder-tools.jinja")
            got[at] = argv[at]
        assert got == argv
        assert entry["proxy"] == "http://127.0.0.1:${PORT}" and entry["checkEndpoint"] == "/health"
        assert entry["ttl"] == 0 and "cmdStop" not in entry  # a plain process: SIGTERM is enough
        assert entry["useModelName"] == argv[argv.index("--alias") + 1]
    assert doc["models"]["smollm2"]["unlisted"] is True
    assert doc["models"]["smollm2"]["description"].startswith("disqualified: doctor fail")
    assert doc["models"]["qwen-fixed"]["description"].startswith("rank 1 (recommended)")
    assert doc["healthCheckTimeout"] == 120 and "groups" not in doc


def test_a_container_lane_is_stopped_with_docker_stop_and_its_port_mapping_follows_port():
    x = lane_result("qwen-q8", 29.5)
    x.spec = {"name": "qwen-q8", "engine": "vllm-docker", "model": "Qwen/Qwen2.5-Coder-1.5B-Instruct", "ctx": 8192,
              "image": "vllm/vllm-openai:v0.11.0"}
    entry = yaml.safe_load(render_llama_swap(_report([x])))["models"]["qwen-q8"]
    assert entry["cmdStop"] == "docker stop -t 10 lanekit-qwen-q8"
    argv, _ = lane_command(x.spec, 6001)
    assert _llama_swap_argv(entry["cmd"], 6001) == argv
    assert any("${PORT}" in line and line.startswith("-p ") for line in entry["cmd"].splitlines())


def test_lanes_that_never_started_are_left_out_and_named():
    dead = lane_result("smollm2", 180.0)
    dead.launch, dead.failure = None, Failure(step="guard", reason="would not fit")
    text = render_llama_swap(_report([lane_result("qwen-q8", 29.5), dead]))
    assert "# skipped smollm2: failed at guard" in text and "smollm2" not in yaml.safe_load(text)["models"]
    assert render_llama_swap(_report([dead])) is None


def test_an_appliance_becomes_a_group_that_runs_together(tmp_path):
    # lanes inline or by name from the lanes.yaml beside it, as appliance files write them
    (tmp_path / "lanes.yaml").write_text(yaml.safe_dump({"lanes": [
        {"name": "qwen-q8", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b"},
        {"name": "elsewhere", "engine": "llamacpp", "model": "smollm2-135m"}]}))
    path = tmp_path / "appliance.yaml"
    path.write_text(yaml.safe_dump({"appliance": {"name": "spark", "lanes": [
        {"name": "qwen-fixed", "engine": "llamacpp", "model": "qwen2.5-coder-1.5b"}, "qwen-q8", "elsewhere"]}}))
    groups = appliance_groups(path)
    assert groups[0] == "spark" and groups[1][:2] == ["qwen-fixed", "qwen-q8"]
    text = render_llama_swap(_report([lane_result("qwen-fixed", 30.0), lane_result("qwen-q8", 29.5)]),
                             appliance=("spark", ["qwen-fixed", "qwen-q8", "elsewhere"]))
    doc = yaml.safe_load(text)
    assert doc["groups"] == {"spark": {"swap": False, "exclusive": True, "members": ["qwen-fixed", "qwen-q8"]}}
    assert "elsewhere not in this profile" in text
