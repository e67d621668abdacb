"""A real two-node Ray cluster on one machine (127.0.0.3 head, 127.0.0.2 worker) that lanekit brings up,
checks and tears down, leaving no Ray process behind; the injected faults (a Ray version mismatch, a
rewritten head IP) each refused with their own code. vLLM's CPU backend does not use the Ray executor
(it falls back to multiprocessing), so the vLLM part here is a dry run of the per-node commands.

The bring-ups take ~40-70 s on a 2-core box: marked `ray` (run with `-m ray`; needs ray[default]).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import psutil
import pytest

from lanekit.lanes.cluster import ClusterSpec
from lanekit.lanes.cluster_nodes import NodeShell, marker
from lanekit.lanes.guard import pick_port


def spec_for(name: str, head: str = "127.0.0.3", **node_b) -> ClusterSpec:
    port = pick_port("127.0.0.1", 46400)
    return ClusterSpec.model_validate({
        "name": name, "tensor_parallel": 2, "ray_port": port, "size_as": "Qwen/Qwen3-30B-A3B",
        "nodes": [{"name": "a", "address": head, "interface": "lo", "memory_bytes": 128 * 10**9},
                  {"name": "b", "address": "127.0.0.2", "interface": "lo", "memory_bytes": 128 * 10**9, **node_b}],
        "lane": {"engine": "vllm", "model": "Qwen/Qwen3-30B-A3B-GPTQ-Int4", "ctx": 8192, "kv_dtype": "fp8",
                 "quantization": "gptq_marlin", "gpu_memory_utilization": 0.3},
    })


def ray_leftovers(spec: ClusterSpec, sessions: list[int] = ()) -> list[int]:
    """Every process still running for this cluster, found without lanekit's own lookup: carrying a
    node's marker, a Ray process naming the cluster's Ray temp dir in its command line or an open file
    (Ray's agents retitle themselves and overwrite their environment), or a member of a session
    lanekit started."""
    from lanekit.lanes.cluster_state import ray_temp_dir

    pids = set()
    for node in spec.nodes:
        pids.update(NodeShell(node).marked_pids(marker(spec.name, node.name)))
    temp = ray_temp_dir(spec)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if temp in " ".join(proc.info["cmdline"] or []) or os.getsid(proc.pid) in sessions:
                pids.add(proc.pid)
                continue
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                with contextlib.suppress(OSError):
                    if temp in os.readlink(f"/proc/{proc.pid}/fd/{fd}"):
                        pids.add(proc.pid)
                        break
        except (OSError, psutil.Error):
            continue
    return sorted(pids)


@pytest.fixture
def ray_cli():
    pytest.importorskip("ray", reason="needs ray[default]: ./install.sh --cluster")


@pytest.mark.ray
def test_two_node_cluster_comes_up_checks_and_leaves_no_ray_process(ray_cli, tmp_path):
    import yaml

    from lanekit.lanes.cluster_run import ClusterRun
    from lanekit.lanes.cluster_state import ray_temp_dir, read_record

    spec = spec_for("duo")
    run = ClusterRun(spec)
    try:
        findings = run.up_nodes()
        passed = {(f.code, f.node) for f in findings if f.status == "pass"}
        assert {("ray-node", "a"), ("ray-node", "b"), ("vllm-host-ip", "a"), ("vllm-host-ip", "b"),
                ("ray-version", None), ("mtu", None)} <= passed
        assert not [f for f in findings if f.status == "fail"]
        for node in spec.nodes:  # each node runs its own Ray processes, each under its own marker
            assert NodeShell(node).marked_pids(marker(spec.name, node.name))
        assert read_record("duo") is not None
        # the CLI check on the live cluster reads Ray's view too
        path = tmp_path / "duo.yaml"
        path.write_text(yaml.safe_dump({"cluster": spec.model_dump(mode="json", exclude_unset=True)}))
        proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "cluster", "check", str(path), "--nodes-only",
                               "--json"],
                              capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == 0, proc.stderr
        codes = {(f["code"], f["node"]) for f in json.loads(proc.stdout) if f["status"] == "pass"}
        assert ("ray-node", "b") in codes and ("vllm-host-ip", "b") in codes
    finally:
        sessions = [p.pid for p in run.record.processes]
        report = run.down()
    assert report.verified, report
    assert ray_leftovers(spec, sessions) == []
    assert read_record("duo") is None
    assert not os.path.exists(ray_temp_dir(spec))


@pytest.mark.ray
def test_a_rewritten_head_ip_fails_with_its_code_and_everything_is_torn_down(ray_cli):
    from lanekit.lanes.cluster_run import ClusterCheckFailed, ClusterRun
    from lanekit.lanes.cluster_state import read_record

    spec = spec_for("rewrite", head="127.0.0.1")  # Ray rewrites a loopback head to the host's address
    run = ClusterRun(spec)
    with pytest.raises(ClusterCheckFailed) as info:
        run.up_nodes()
    assert [f.code for f in info.value.findings] == ["head-ip-rewritten"]
    assert info.value.fix and "--node-ip-address" in info.value.fix
    sessions = [p.pid for p in run.record.processes]
    assert len(sessions) == 2  # both nodes had started: the failure came from Ray's view
    assert ray_leftovers(spec, sessions) == [] and read_record("rewrite") is None


def test_a_ray_version_mismatch_is_refused_before_anything_starts(ray_cli, tmp_path):
    from lanekit.lanes.cluster_run import ClusterCheckFailed, ClusterRun
    from lanekit.lanes.cluster_state import read_record

    # node b's interpreter sees another Ray (a dist-info first on its path): the probe reads what will run
    fake = tmp_path / "other-ray"
    (fake / "ray-2.59.0.dist-info").mkdir(parents=True)
    (fake / "ray-2.59.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ray\nVersion: 2.59.0\n")
    spec = spec_for("mismatch", env={"PYTHONPATH": str(fake)})
    run = ClusterRun(spec)
    with pytest.raises(ClusterCheckFailed) as info:
        run.up_nodes()
    assert [f.code for f in info.value.findings] == ["ray-version-mismatch"]
    assert "b 2.59.0" in info.value.message and "a 2." in info.value.message
    assert run.record.processes == [] and ray_leftovers(spec) == [] and read_record("mismatch") is None


def test_vllm_on_cpu_is_a_dry_run_of_the_per_node_commands(tmp_path):
    """The commands `cluster up` would run for seed 003's recipe, as JSON, nothing started."""
    path = tmp_path / "seed003.yaml"
    path.write_text("""cluster:
  name: qwen235
  tensor_parallel: 2
  expert_parallel: true
  size_as: Qwen/Qwen3-235B-A22B
  nodes:
    - {name: spark-a, address: 192.168.100.10, interface: enp1s0f1np1, ib_hca: [rocep1s0f1, roceP2p1s0f1]}
    - {name: spark-b, address: 192.168.100.11, interface: enp1s0f1np1, ib_hca: [rocep1s0f1, roceP2p1s0f1],
       ssh: spark-b, python: /opt/vllm/bin/python}
  lane: {engine: vllm, model: Qwen/Qwen3-235B-A22B-GPTQ-Int4, ctx: 32768, parallel: 4, kv_dtype: fp8,
         quantization: gptq_marlin, attention_backend: TRITON_ATTN, gpu_memory_utilization: 0.87, port: 8000}
""")
    proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "cluster", "up", str(path), "--dry-run",
                           "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    a, b = plan["nodes"]
    assert a["argv"][1:4] == ["start", "--head", "--port"] and b["argv"][0] == "/opt/vllm/bin/ray"
    assert b["argv"][b["argv"].index("--address") + 1] == "192.168.100.10:6379"
    assert a["env"]["VLLM_HOST_IP"] == "192.168.100.10" and b["env"]["VLLM_HOST_IP"] == "192.168.100.11"
    head = plan["head"]["argv"]
    assert head[1:3] == ["serve", "Qwen/Qwen3-235B-A22B-GPTQ-Int4"] and head[-2:] == ["--distributed-executor-backend",
                                                                                         "ray"]
    assert plan["head"]["env"]["RAY_ADDRESS"] == "192.168.100.10:6379"
    plan_proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "cluster", "plan", str(path), "--hw", "gb10",
                                "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert plan_proc.returncode == 0, plan_proc.stderr
    shares = json.loads(plan_proc.stdout)["shares"]
    assert [round(s["weights_bytes"] / 2**30, 1) for s in shares] == [57.7, 57.7]  # seed 003: 57.64 GiB per node
