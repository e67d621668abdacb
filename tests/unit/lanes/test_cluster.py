"""The multi-node lane: seed 003's recipe as lanekit generates it per node, sizing per node, the
fabric checks and their codes, the NCCL transport read from a log, and marker-only teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from lanekit.catalog.memory import GIB
from lanekit.errors import ConfigError, LaneWontFit
from lanekit.lanes.cluster import (
    ClusterSpec,
    check_shares,
    node_env,
    node_shares,
    ray_start_argv,
    rpc_lane,
    rpc_server_argv,
    vllm_head_argv,
    vllm_head_env,
    weights_per_node_gib,
)
from lanekit.lanes.cluster_check import check_nccl, check_nodes, check_ray_nodes, nccl_transport
from lanekit.lanes.cluster_nodes import NodeFacts, NodeShell, marker

SPARK_POOL = (128 * 10**9, int(6.3 * GIB))


def seed_003(**over) -> ClusterSpec:
    """Qwen3-235B-A22B GPTQ-Int4 over two Sparks: TP=2, EP, Ray over the QSFP RoCE link."""
    data = {
        "name": "qwen235", "tensor_parallel": 2, "expert_parallel": True, "size_as": "Qwen/Qwen3-235B-A22B",
        "nodes": [
            {"name": "spark-a", "address": "192.168.100.10", "interface": "enp1s0f1np1",
             "ib_hca": ["rocep1s0f1", "roceP2p1s0f1"]},
            {"name": "spark-b", "address": "192.168.100.11", "interface": "enp1s0f1np1",
             "ib_hca": ["rocep1s0f1", "roceP2p1s0f1"], "ssh": "spark-b"}],
        "lane": {"engine": "vllm", "model": "Qwen/Qwen3-235B-A22B-GPTQ-Int4", "ctx": 32768, "parallel": 4,
                 "kv_dtype": "fp8", "quantization": "gptq_marlin", "attention_backend": "TRITON_ATTN",
                 "gpu_memory_utilization": 0.87, "port": 8000, "binary": "/opt/vllm/bin/vllm"},
    }
    data.update(over)
    return ClusterSpec.model_validate(data)


def test_seed_003_head_command_is_the_recipe():
    argv = vllm_head_argv(seed_003(), 8000, "vllm")
    joined = " ".join(argv)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen3-235B-A22B-GPTQ-Int4"]
    for flags in (["--tensor-parallel-size", "2"], ["--attention-backend", "TRITON_ATTN"],
                  ["--quantization", "gptq_marlin"], ["--kv-cache-dtype", "fp8"],
                  ["--gpu-memory-utilization", "0.87"], ["--distributed-executor-backend", "ray"]):
        assert " ".join(flags) in joined, flags
    assert "--enable-expert-parallel" in argv and "--pipeline-parallel-size" not in argv
    assert argv[-2:] == ["--distributed-executor-backend", "ray"]


def test_seed_003_env_per_node_pins_its_own_ip_and_the_fast_nic():
    spec = seed_003()
    a, b = (node_env(spec, n) for n in spec.nodes)
    assert a["VLLM_HOST_IP"] == "192.168.100.10" and b["VLLM_HOST_IP"] == "192.168.100.11"
    for env in (a, b):
        for var in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME", "UCX_NET_DEVICES"):
            assert env[var] == "enp1s0f1np1"
        assert env["NCCL_IB_HCA"] == "rocep1s0f1,roceP2p1s0f1" and env["NCCL_IB_DISABLE"] == "0"
        assert env["NCCL_DEBUG"] == "INFO" and "NCCL_IB_GID_INDEX" not in env  # GID indexes drift
    head = vllm_head_env(spec)
    assert head["RAY_ADDRESS"] == "192.168.100.10:6379" and head["VLLM_HOST_IP"] == "192.168.100.10"


def test_ray_start_head_then_join_on_each_nodes_own_address():
    spec = seed_003()
    head, worker = (ray_start_argv(spec, n) for n in spec.nodes)
    assert head[:6] == ["ray", "start", "--head", "--port", "6379", "--block"]
    assert head[head.index("--node-ip-address") + 1] == "192.168.100.10" and "--include-dashboard" in head
    assert worker[2:4] == ["--address", "192.168.100.10:6379"]
    assert worker[worker.index("--node-ip-address") + 1] == "192.168.100.11"
    assert "--head" not in worker and worker[worker.index("--num-gpus") + 1] == "1"


def test_seed_003_sizing_per_node_matches_the_measured_weights():
    spec = seed_003()
    assert weights_per_node_gib(spec) == pytest.approx(57.64, rel=0.01)  # seed 003: 57.64 GiB per node
    shares = node_shares(spec, {n.name: SPARK_POOL for n in spec.nodes})
    assert [s.host for s in shares] == ["localhost", "spark-b"]
    a = shares[0]
    assert a.reserved_bytes == int(0.87 * SPARK_POOL[0])
    assert a.weights_bytes + a.kv_bytes + a.overhead_bytes < a.reserved_bytes
    check_shares(spec, shares)  # each Spark holds its half at 0.87


def test_a_node_share_beyond_its_reservation_is_refused_naming_the_node():
    spec = seed_003(lane={**seed_003().lane.model_dump(exclude_unset=True), "gpu_memory_utilization": 0.4})
    with pytest.raises(LaneWontFit, match="node spark-a needs"):
        check_shares(spec, node_shares(spec, {n.name: SPARK_POOL for n in spec.nodes}))


def test_nodes_on_one_machine_share_its_memory():
    spec = seed_003(nodes=[{"name": "a", "address": "127.0.0.2"}, {"name": "b", "address": "127.0.0.3"}])
    with pytest.raises(LaneWontFit, match="a, b on localhost"):
        check_shares(spec, node_shares(spec, {"a": SPARK_POOL, "b": SPARK_POOL}))


def test_nodes_that_declare_their_own_memory_are_separate_pools_on_one_host():
    # two GPUs of one host: each rpc-server/rank draws on its own GPU, not on a shared pool
    spec = seed_003(nodes=[{"name": "a", "address": "127.0.0.2", "memory_bytes": SPARK_POOL[0]},
                           {"name": "b", "address": "127.0.0.3", "memory_bytes": SPARK_POOL[0]}])
    shares = node_shares(spec, {"a": SPARK_POOL, "b": SPARK_POOL})
    assert [s.host for s in shares] == ["localhost/a", "localhost/b"]
    check_shares(spec, shares)


@pytest.mark.parametrize("over, message", [
    ({"tensor_parallel": 4}, "nodes hold 2 GPUs"),
    ({"nodes": [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.1"}]}, "VLLM_HOST_IP"),
    ({"nodes": [{"name": "a", "address": "spark-a.local"}, {"name": "b", "address": "10.0.0.2"}]}, "not an IP"),
    ({"nodes": [{"name": "a", "address": "10.0.0.1"}, {"name": "a", "address": "10.0.0.2"}]}, "names must be"),
])
def test_invalid_cluster_specs_are_refused(over, message):
    with pytest.raises((ValueError, ConfigError), match=message):
        seed_003(**over)


def test_cluster_file_errors_name_the_field(tmp_path):
    from lanekit.lanes.cluster import load_cluster_file

    path = tmp_path / "c.yaml"
    path.write_text("cluster:\n  name: c\n  nodes: [{name: a, address: 10.0.0.1, mtu: 9000}]\n"
                    "  lane: {engine: llamacpp, model: smollm2-135m}\n")
    with pytest.raises(ConfigError, match=r"cluster.nodes\[0\].mtu"):
        load_cluster_file(path)


# -- llama.cpp RPC from the same spec --------------------------------------------------------------
def rpc_spec(**over) -> ClusterSpec:
    data = {"name": "rpc", "nodes": [{"name": "a", "address": "127.0.0.2", "rpc_port": 50052},
                                     {"name": "b", "address": "127.0.0.3", "rpc_port": 50053}],
            "lane": {"engine": "llamacpp", "model": "smollm2-135m", "ctx": 1024}}
    data.update(over)
    return ClusterSpec.model_validate(data)


def test_rpc_lane_offloads_every_layer_to_the_nodes_rpc_servers():
    spec = rpc_spec(tensor_split=[3, 1])
    lane = rpc_lane(spec, "/builds/rpc/llama-server")
    assert lane.binary == "/builds/rpc/llama-server" and lane.name == "rpc"
    assert lane.extra_args == ["--rpc", "127.0.0.2:50052,127.0.0.3:50053", "-ngl", "99", "--tensor-split", "3,1"]
    assert rpc_server_argv(spec.nodes[1], "rpc-server") == ["rpc-server", "-H", "127.0.0.3", "-p", "50053"]
    assert node_env(spec, spec.nodes[0]) == {}  # no Ray, no NCCL for RPC


def test_rpc_shares_follow_the_tensor_split():
    spec = rpc_spec(tensor_split=[3, 1])
    a, b = node_shares(spec, {"a": (16 * GIB, 2 * GIB), "b": (16 * GIB, 2 * GIB)})
    assert a.weights_bytes == pytest.approx(3 * b.weights_bytes, rel=0.01)
    assert a.overhead_bytes > b.overhead_bytes  # llama-server itself runs on the head


def test_rpc_rejects_vllm_parallelism_and_duplicate_endpoints():
    with pytest.raises(ValueError, match="vllm only"):
        rpc_spec(tensor_parallel=2)
    with pytest.raises(ValueError, match="address:rpc_port"):
        rpc_spec(nodes=[{"name": "a", "address": "127.0.0.2"}, {"name": "b", "address": "127.0.0.2"}])


# -- checks ------------------------------------------------------------------------------------------
def facts(node: str, *, ray="2.60.0", vllm="0.19.0", python="3.12.3", iface="enp1s0f1np1",
          addr="192.168.100.10/24", mtu=9000, rpc_hash=None) -> NodeFacts:
    return NodeFacts(node=node, hostname=node, python=python, executable="/usr/bin/python3", ray=ray, vllm=vllm,
                     torch="2.9.0", interfaces={"lo": {"mtu": 65536, "loopback": True, "addrs": ["127.0.0.1/8"]},
                                                iface: {"mtu": mtu, "addrs": [addr]}},
                     files={"/b/rpc-server": rpc_hash} if rpc_hash is not None else {})


def codes(findings, status="fail"):
    return [f.code for f in findings if f.status == status]


def test_a_healthy_pair_passes_every_node_check():
    found = check_nodes(seed_003(), {"spark-a": facts("spark-a"), "spark-b": facts("spark-b", addr="192.168.100.11/24")})
    assert codes(found) == [] and "mtu" in codes(found, "pass") and "ray-version" in codes(found, "pass")


@pytest.mark.parametrize("b_kwargs, code", [
    ({"ray": "2.59.0"}, "ray-version-mismatch"),
    ({"vllm": "0.18.1"}, "vllm-version-mismatch"),
    ({"vllm": None}, "vllm-missing"),
    ({"python": "3.11.9"}, "python-version-mismatch"),
    ({"mtu": 1500}, "mtu-mismatch"),
    ({"addr": "192.168.100.99/24"}, "address-not-local"),
    ({"iface": "enP7s7", "addr": "192.168.100.11/24"}, "interface-missing"),
])
def test_each_failure_has_its_own_code_and_a_fix(b_kwargs, code):
    b = facts("spark-b", **{"addr": "192.168.100.11/24", **b_kwargs})
    found = check_nodes(seed_003(), {"spark-a": facts("spark-a"), "spark-b": b})
    failing = [f for f in found if f.status == "fail"]
    assert [f.code for f in failing] == [code] and failing[0].fix


def test_the_address_on_the_wrong_interface_is_named():
    b = facts("spark-b", iface="enP7s7", addr="192.168.100.11/24")
    b.interfaces["enp1s0f1np1"] = {"mtu": 9000, "addrs": ["10.10.0.2/24"]}
    found = check_nodes(seed_003(), {"spark-a": facts("spark-a"), "spark-b": b})
    assert codes(found) == ["address-on-wrong-interface"]


def test_pinned_gid_index_is_warned_and_engine_optional_runs_skip_vllm():
    spec = seed_003(env={"NCCL_IB_GID_INDEX": "3"})
    b = facts("spark-b", addr="192.168.100.11/24", vllm=None)
    found = check_nodes(spec, {"spark-a": facts("spark-a", vllm=None), "spark-b": b}, engine_required=False)
    assert codes(found) == [] and codes(found, "warn") == ["gid-index-pinned", "gid-index-pinned"]
    assert "vllm-version" in codes(found, "skip")


def test_rpc_builds_must_be_the_same_on_every_node():
    spec = rpc_spec()
    ok = {"a": facts("a", iface="lo2", addr="127.0.0.2/8", rpc_hash="x"),
          "b": facts("b", iface="lo3", addr="127.0.0.3/8", rpc_hash="x")}
    assert "rpc-build" in codes(check_nodes(spec, ok), "pass")
    ok["b"] = facts("b", iface="lo3", addr="127.0.0.3/8", rpc_hash="y")
    assert "rpc-build-mismatch" in codes(check_nodes(spec, ok))


def test_rays_view_finds_a_rewritten_head_and_a_missing_node():
    spec = seed_003()
    good = [{"NodeManagerAddress": "192.168.100.10", "Alive": True},
            {"NodeManagerAddress": "192.168.100.11", "Alive": True}]
    assert codes(check_ray_nodes(spec, good)) == []
    rewritten = [{"NodeManagerAddress": "10.0.0.5", "Alive": True}, good[1]]
    found = check_ray_nodes(spec, rewritten)
    assert codes(found) == ["head-ip-rewritten"] and "10.0.0.5" in found[0].message
    assert codes(check_ray_nodes(spec, good[:1])) == ["ray-node-missing"]


NCCL_IB = """NCCL INFO NET/IB : Using [0]rocep1s0f1:1/RoCE [1]roceP2p1s0f1:1/RoCE [RO]; OOB enp1s0f1np1:192.168.100.10<0>
NCCL INFO Using network IB
NCCL INFO Channel 00/0 : 0[0] -> 1[0] [send] via NET/IB/0/GDRDMA
"""
NCCL_SOCKET = """NCCL INFO NET/IB : No device found.
NCCL INFO NET/Socket : Using [0]enp1s0f1np1:192.168.100.10<0>
NCCL INFO Using network Socket
NCCL INFO Channel 00/0 : 0[0] -> 1[0] [send] via NET/Socket/0
"""


def test_nccl_transport_is_read_from_the_log():
    assert nccl_transport(NCCL_IB) == "IB" and nccl_transport(NCCL_SOCKET) == "Socket"
    assert nccl_transport("NCCL INFO Using network IB\n") == "IB" and nccl_transport("no nccl here") is None
    spec = seed_003()
    assert codes(check_nccl(spec, NCCL_SOCKET)) == ["nccl-socket"]
    assert codes(check_nccl(spec, NCCL_IB), "pass") == ["nccl-transport"]
    assert codes(check_nccl(spec, None), "skip") == ["nccl-transport"]
    assert check_nccl(rpc_spec(), NCCL_SOCKET) == []


def test_worker_env_must_carry_each_nodes_own_ip():
    from lanekit.lanes.cluster_run import worker_env_findings

    spec = seed_003()
    same = [{"ip": "192.168.100.10", "VLLM_HOST_IP": "192.168.100.10"},
            {"ip": "192.168.100.11", "VLLM_HOST_IP": "192.168.100.10"}]
    assert [f.node for f in worker_env_findings(spec, same) if f.status == "fail"] == ["spark-a", "spark-b"]


# -- the node shell: real processes -------------------------------------------------------------
def test_the_probe_runs_on_the_nodes_interpreter_and_reads_its_interfaces():
    spec = rpc_spec()
    found = NodeShell(spec.nodes[0]).probe([sys.executable])
    assert found.python == ".".join(map(str, sys.version_info[:3])) and found.mem_total_bytes > 0
    assert any(info.get("loopback") for info in found.interfaces.values())
    assert found.files[sys.executable]


def test_node_stop_ends_only_the_processes_that_carry_the_mark(tmp_path):
    spec = rpc_spec()
    shell = NodeShell(spec.nodes[0])
    mark = marker("stoptest", "a")
    pid = shell.spawn([sys.executable, "-c", "import time; time.sleep(60)"], {}, mark, tmp_path / "a.log")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while not shell.marked_pids(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert shell.marked_pids(mark) == [pid]
        result = shell.stop(mark, grace_s=5)
        assert result.signalled == [pid] and result.survivors == [] and shell.marked_pids(mark) == []
        assert stranger.poll() is None  # an unmarked process is never touched
    finally:
        stranger.kill()
        stranger.wait()


def test_node_stop_finds_a_retitled_child_by_its_session_and_the_tag_it_holds_open(tmp_path):
    """Ray's agents overwrite their environment (setproctitle): the marker is gone, their session and
    the Ray temp dir they log into remain. A stranger holding the same dir open is never touched."""
    spec = rpc_spec()
    shell = NodeShell(spec.nodes[0])
    mark = marker("retitle", "a")
    tag = str(tmp_path / "lkray-x")
    os.makedirs(tag)
    # the marked leader starts a child with an empty environment (no marker) that keeps a log under tag
    child = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
             f"\"f = open({tag + '/agent.log'!r}, 'w'); import time; time.sleep(60)\"], env={{}}); time.sleep(60)")
    leader = shell.spawn([sys.executable, "-c", child], {}, mark, tmp_path / "a.log")
    holder = f"f = open({tag + '/other.log'!r}, 'w'); import time; time.sleep(60)"
    stranger = subprocess.Popen([sys.executable, "-c", holder])
    try:
        deadline = time.monotonic() + 15
        while len(shell.marked_pids(mark, tag, [leader])) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        both = shell.marked_pids(mark, tag, [leader])
        assert shell.marked_pids(mark) == [leader] and len(both) == 2 and stranger.pid not in both
        result = shell.stop(mark, grace_s=5, tag=tag, sessions=[leader])
        assert sorted(result.signalled) == sorted(both) and result.survivors == []
        assert shell.marked_pids(mark, tag, [leader]) == [] and stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_build_progress_lines():
    from lanekit.lanes.rpc_build import build_progress

    assert build_progress("[12/48] Building CXX object x.o") == 0.25
    assert build_progress("[ 42%] Building CXX object") == 0.42
    assert build_progress("warning: x") is None


def test_up_refuses_a_head_reached_over_ssh():
    from lanekit.lanes.cluster_run import ClusterRun

    spec = seed_003(nodes=[{"name": "a", "address": "192.168.100.10", "ssh": "spark-a"},
                           {"name": "b", "address": "192.168.100.11", "ssh": "spark-b"}])
    with pytest.raises(ConfigError, match="run `lanekit cluster up` on the head node"):
        ClusterRun(spec).preflight()
