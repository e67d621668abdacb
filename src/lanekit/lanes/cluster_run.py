"""Bring a multi-node lane up and down: probe and check every node, size each node's share, start Ray
(`ray start --head` / `--address`) or one `rpc-server` per node, then the head's lane (vLLM with the Ray
executor, or llama-server `--rpc`), wait out the warm-up with progress, and tear down on every node.

Every process on a node carries the lane's marker (`LANEKIT_LANE=<cluster>@<node>`), so teardown stops
exactly those — never `ray stop`, which stops every Ray on the machine. A record under
`<LANEKIT_HOME>/clusters/` lets `lanekit cluster down` find a cluster a previous command started.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lanekit.dirs import log_dir
from lanekit.errors import ConfigError, LaneStartError
from lanekit.lanes.cluster import (
    ClusterSpec,
    NodeShare,
    check_shares,
    node_env,
    node_shares,
    ray_start_argv,
    rpc_lane,
    rpc_server_argv,
    vllm_head_argv,
    vllm_head_env,
)
from lanekit.lanes.cluster_check import Finding, check_nccl, check_nodes, check_ray_nodes, failed
from lanekit.lanes.cluster_nodes import NodeFacts, NodeShell, marker
from lanekit.lanes.cluster_state import (
    ClusterRecord,
    ClusterTeardown,
    NodeProcess,
    ray_temp_dir,
    read_record,
    teardown,
    write_record,
)
from lanekit.lanes.lifecycle import Lane, tail

Progress = Callable[[str], None]
RAY_JOIN_TIMEOUT_S = 180.0
RPC_START_TIMEOUT_S = 60.0

# run on the head by the node's interpreter: Ray's view of the cluster, and each node's workers' env
RAY_NODES_SNIPPET = r'''
import json, os, sys
import ray
ray.init(address=sys.argv[1], _node_ip_address=sys.argv[2], logging_level="ERROR", log_to_driver=False)
nodes = [{"NodeManagerAddress": n["NodeManagerAddress"], "Alive": n["Alive"], "NodeName": n.get("NodeName"),
          "GPU": n.get("Resources", {}).get("GPU", 0)} for n in ray.nodes()]
@ray.remote(num_cpus=0)
def where():
    return {"ip": ray.util.get_node_ip_address(), "VLLM_HOST_IP": os.environ.get("VLLM_HOST_IP"),
            "NCCL_SOCKET_IFNAME": os.environ.get("NCCL_SOCKET_IFNAME")}
refs = [where.options(resources={f"node:{n['NodeManagerAddress']}": 0.001}).remote() for n in nodes if n["Alive"]]
workers = ray.get(refs, timeout=120)
print(json.dumps({"nodes": nodes, "workers": workers}))
'''


def probe_all(spec: ClusterSpec, rpc_server: str | None = None) -> dict[str, NodeFacts]:
    """Run the probe on every node (with the rpc-server build hashed, for llama.cpp lanes)."""
    files = [rpc_server] if rpc_server else []
    # under the node's own environment: what Ray and the engine will import there
    return {n.name: NodeShell(n).probe(files, env=node_env(spec, n)) for n in spec.nodes}


def pools_for(spec: ClusterSpec, facts: dict[str, NodeFacts] | None, hw: str | None = None) -> dict[str, tuple[int, int]]:
    """(pool, OS reserve) per node: a hardware profile when planning off the box, the node's own
    memory_bytes, else what the probe reads free now (the guard's rule: it must fit now)."""
    from lanekit.catalog.hardware import get_profile
    from lanekit.catalog.memory import GIB

    out = {}
    for node in spec.nodes:
        if hw:
            prof = get_profile(hw)
            out[node.name] = (prof.memory_bytes, prof.os_reserved_bytes or max(2 * GIB, prof.memory_bytes // 20))
        elif node.memory_bytes:  # a GPU's memory or a share: no OS lives in it, keep 5 % for fragmentation
            out[node.name] = (node.memory_bytes, node.memory_bytes // 20)
        elif facts and facts[node.name].mem_available_bytes:
            f = facts[node.name]
            out[node.name] = (int(f.mem_available_bytes), max(2 * GIB, int(f.mem_total_bytes or 0) // 20))
        else:
            raise ConfigError(f"node {node.name}: its memory is unknown",
                              fix="pass --hw PROFILE (e.g. gb10) or set nodes[].memory_bytes")
    return out


class ClusterRun:
    """One multi-node lane: `up()` brings it to ready, `down()` stops it on every node."""

    def __init__(self, spec: ClusterSpec, *, progress: Progress | None = None, rpc_build=None) -> None:
        self.spec = spec
        self.progress = progress or (lambda text: None)
        self.rpc_build = rpc_build
        self.record = ClusterRecord(name=spec.name, engine=spec.engine, spec=spec.model_dump(mode="json"))
        self.lane: Lane | None = None
        self.shares: list[NodeShare] = []
        self.findings: list[Finding] = []

    # -- steps ---------------------------------------------------------------------------------
    def preflight(self, hw: str | None = None, engine_required: bool = True) -> list[Finding]:
        """Probe and check every node, size each node's share; raise on the first failure found."""
        if read_record(self.spec.name) is not None:
            raise ConfigError(f"cluster {self.spec.name!r} is already up (a record exists)",
                              fix=f"`lanekit cluster down {self.spec.name}` first")
        if not self.spec.head.local:
            raise ConfigError(f"cluster.nodes[0]: the head {self.spec.head.name} is reached over ssh, but the head "
                              "lane starts on the machine running lanekit",
                              fix="run `lanekit cluster up` on the head node (drop its `ssh:`)")
        self.progress(f"probing {len(self.spec.nodes)} nodes")
        facts = probe_all(self.spec, self.rpc_build.rpc_server if self.rpc_build else None)
        self.findings = check_nodes(self.spec, facts, engine_required)
        self._refuse(self.findings)
        self.shares = node_shares(self.spec, pools_for(self.spec, facts, hw))
        check_shares(self.spec, self.shares)
        return self.findings

    def _refuse(self, findings: list[Finding]) -> None:
        bad = failed(findings)
        if bad:
            first = bad[0]
            more = f" (+{len(bad) - 1} more: {', '.join(f.code for f in bad[1:])})" if len(bad) > 1 else ""
            raise ClusterCheckFailed(f"cluster {self.spec.name!r}: {first.code}: "
                                     f"{(first.node + ': ') if first.node else ''}{first.message}{more}",
                                     fix=first.fix, findings=bad)

    def start_nodes(self) -> None:
        """Ray on every node (head first) or an rpc-server per node; each reachable before the next."""
        for node in self.spec.nodes:
            shell = NodeShell(node)
            mark = marker(self.spec.name, node.name)
            log_path = log_dir() / f"{self.spec.name}-{node.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
            if self.spec.engine == "vllm":
                argv = ray_start_argv(self.spec, node, shell.tool("ray"))
                argv += ["--temp-dir", ray_temp_dir(self.spec)]
                port = self.spec.ray_port if node is self.spec.head else None
            else:
                argv = rpc_server_argv(node, self.rpc_build.rpc_server if self.rpc_build else "rpc-server")
                port = node.rpc_port
            self.progress(f"{node.name}: starting {Path(argv[0]).name} on {node.address}")
            pid = shell.spawn(argv, node_env(self.spec, node), mark, log_path)
            self.record.processes.append(NodeProcess(node=node.name, mark=mark, pid=pid, argv=argv,
                                                     log_path=str(log_path), port=port, address=node.address))
            write_record(self.record)
            if port is not None:
                limit = RPC_START_TIMEOUT_S if self.spec.engine == "llamacpp" else RAY_JOIN_TIMEOUT_S
                if not shell.wait_listening(mark, node.address, port, limit):
                    raise LaneStartError(f"cluster {self.spec.name!r}: {Path(argv[0]).name} on {node.name} never "
                                         f"listened on {node.address}:{port}", fix=f"read {log_path}",
                                         log_tail=tail(log_path, 15) if node.local else "")

    def ray_view(self) -> dict:
        """Ray's nodes and, per node, what its workers see (VLLM_HOST_IP, the NIC pinned)."""
        head = NodeShell(self.spec.head)
        proc = head.run([head.python, "-c", RAY_NODES_SNIPPET, f"{self.spec.head.address}:{self.spec.ray_port}",
                         self.spec.head.address], timeout_s=RAY_JOIN_TIMEOUT_S)
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise LaneStartError(f"cluster {self.spec.name!r}: could not ask Ray for its nodes",
                                 fix="read the head's Ray log (`lanekit cluster status`)",
                                 log_tail=" ".join(proc.stderr.split()[-40:])) from None

    def wait_ray(self) -> list[Finding]:
        """Wait until every node joined Ray, then check addresses and each node's worker env."""
        deadline = time.monotonic() + RAY_JOIN_TIMEOUT_S
        while True:
            view = self.ray_view()
            alive = [n for n in view["nodes"] if n["Alive"]]
            self.progress(f"ray: {len(alive)}/{len(self.spec.nodes)} nodes joined")
            if len(alive) >= len(self.spec.nodes) or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        findings = check_ray_nodes(self.spec, view["nodes"]) + worker_env_findings(self.spec, view["workers"])
        self.findings += findings
        self.record.findings = self.findings
        write_record(self.record)
        self._refuse(findings)
        return findings

    def head_lane(self) -> Lane:
        """The lane on the head, its guard sized to the head's share only."""
        if self.spec.engine == "vllm":
            update = {"env": vllm_head_env(self.spec)}
            if not getattr(self.spec.lane, "binary", None) and self.spec.head.python:
                update["binary"] = NodeShell(self.spec.head).tool("vllm")  # the env Ray runs in on the head
            spec = self.spec.lane.model_copy(update=update)
            engine = _ClusterHeadEngine(spec, self.spec, self.shares[0] if self.shares else None)
        else:
            spec = rpc_lane(self.spec, self.rpc_build.llama_server if self.rpc_build else None)
            engine = _ClusterHeadEngine(spec, self.spec, self.shares[0] if self.shares else None)
        return Lane(spec, engine=engine, owner_kind="cluster", detached=True)

    def warm_with_progress(self, lane: Lane, timeout_s: float | None) -> float:
        """lane.warm() while a watcher reports the engine log's latest line every few seconds."""
        stop = threading.Event()

        def watch() -> None:
            t0 = time.monotonic()
            last = ""
            while not stop.wait(3.0):
                line = _last_line(lane.log_tail(5))
                if line and line != last:
                    last = line
                    self.progress(f"warming {time.monotonic() - t0:5.0f}s  {line[:90]}")

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            return lane.warm(timeout_s)
        finally:
            stop.set()
            watcher.join(timeout=5)

    def up_nodes(self, *, hw: str | None = None) -> list[Finding]:
        """Only the cluster, no engine: preflight, Ray (or the rpc-servers) on every node, Ray's view
        checked. Proves the fabric before a long load; `down()` stops it."""
        self.preflight(hw, engine_required=False)
        try:
            self.start_nodes()
            if self.spec.engine == "vllm":
                self.wait_ray()
        except BaseException:
            self.down()
            raise
        return self.findings

    def up(self, *, hw: str | None = None, timeout_s: float | None = None) -> Lane:
        """preflight → nodes → (Ray check) → head lane → warm → NCCL check; torn down on any failure."""
        self.preflight(hw)
        try:
            self.start_nodes()
            if self.spec.engine == "vllm":
                self.wait_ray()
            self.lane = self.head_lane()
            self.record.lane = self.lane.spec.name
            write_record(self.record)
            self.progress(f"head: starting {self.lane.spec.engine} lane {self.lane.spec.name}")
            self.lane.start()
            self.record.ready_s = self.warm_with_progress(self.lane, timeout_s)
            if self.spec.engine == "vllm":
                nccl = check_nccl(self.spec, engine_logs(self.spec, self.lane.log_path))
                self.findings += nccl
                self._refuse(nccl)
            self.record.findings = self.findings
            write_record(self.record)
            return self.lane
        except BaseException:
            self.down()
            raise

    def down(self) -> ClusterTeardown:
        return teardown(self.record, self.lane)


class ClusterCheckFailed(ConfigError):
    """A cluster check failed before or during start; `findings` holds every failure."""

    def __init__(self, message: str, fix: str | None = None, findings: list[Finding] | None = None) -> None:
        super().__init__(message, fix)
        self.findings = findings or []


def worker_env_findings(spec: ClusterSpec, workers: list[dict]) -> list[Finding]:
    """Each node's Ray workers must see their own VLLM_HOST_IP (exports in a shell stay local; what
    `ray start` had reaches the workers)."""
    out = []
    seen = [w.get("VLLM_HOST_IP") for w in workers]
    for node in spec.nodes:
        got = next((w for w in workers if w.get("ip") == node.address), None)
        if got is None:
            continue
        if got.get("VLLM_HOST_IP") != node.address or seen.count(got.get("VLLM_HOST_IP")) > 1:
            out.append(Finding(code="vllm-host-ip", status="fail", node=node.name,
                               message=f"workers on {node.address} see VLLM_HOST_IP={got.get('VLLM_HOST_IP')}",
                               fix="set VLLM_HOST_IP to each node's own address before `ray start` on that node"))
        else:
            out.append(Finding(code="vllm-host-ip", status="pass", node=node.name,
                               message=f"workers see VLLM_HOST_IP={node.address}"))
    return out


def engine_logs(spec: ClusterSpec, head_log: str | None) -> str:
    """The text NCCL's transport is read from: the head lane's log (Ray forwards its workers' output
    to the driver) and, on this machine, Ray's own worker logs."""
    parts = [tail(head_log, 4000)] if head_log else []
    logs = Path(ray_temp_dir(spec)) / "session_latest" / "logs"
    for path in sorted(logs.glob("worker-*.*"))[-16:] if logs.is_dir() else []:
        parts.append(tail(path, 400))
    return "\n".join(parts)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class _ClusterHeadEngine:
    """The head lane's engine, unchanged except its memory estimate: the head's share of the cluster."""

    def __init__(self, spec, cluster: ClusterSpec, share: NodeShare | None) -> None:
        from lanekit.lanes.engine import engine_for

        self._inner = engine_for(spec)
        self._cluster = cluster
        self._share = share

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def argv(self, spec, port: int) -> list[str]:
        """vLLM: the cluster's `vllm serve` (TP/PP over the nodes, EP, the Ray executor)."""
        if self._cluster.engine == "vllm":
            return vllm_head_argv(self._cluster, port, self._inner.binary(spec))
        return self._inner.argv(spec, port)

    def memory_estimate(self, spec):
        est = self._inner.memory_estimate(spec) if self._share is None or spec.engine == "llamacpp" else None
        if self._share is None:
            return est
        base = est if est is not None else _blank_estimate(spec)
        s = self._share
        return base.model_copy(update={"weights_bytes": s.weights_bytes, "kv_bytes": s.kv_bytes,
                                       "overhead_bytes": s.overhead_bytes + s.outside_bytes,
                                       "reserved_bytes": s.reserved_bytes, "headroom_bytes": 0,
                                       "total_bytes": s.need_bytes})


def _blank_estimate(spec):
    from lanekit.catalog.memory import MemoryEstimate

    return MemoryEstimate(weights_bytes=0, kv_bytes_per_token=0, kv_bytes=0, state_bytes=0, overhead_bytes=0,
                          headroom_bytes=0, total_bytes=0, ctx=spec.ctx, parallel=spec.parallel,
                          kv_dtype=spec.kv_dtype, engine="vllm")


