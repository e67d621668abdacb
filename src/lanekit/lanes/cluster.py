"""The multi-node lane: one spec (nodes, their fast-interface addresses, TP/PP/EP) that lanekit sizes
per node and turns into per-node commands — a Ray cluster under `vllm serve … --distributed-executor-backend
ray`, or an `rpc-server` per node behind `llama-server --rpc host:port,…`.

Pure: validation, per-node environment and argv, per-node sizing. Running them is `cluster_run.py`; the
fabric preflight is `cluster_check.py`; talking to a node (local or over ssh) is `cluster_nodes.py`.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lanekit.catalog.memory import GIB, default_overhead_bytes, estimate_memory, fmt_bytes
from lanekit.errors import ConfigError, LaneWontFit
from lanekit.lanes.spec import LaneSpec, format_validation_error, parse_lane, read_yaml

RAY_PORT = 6379
RPC_PORT = 50052
# vLLM's warm-up across two nodes is long (seed 003: ~15 min from start to first inference)
CLUSTER_WARM_TIMEOUT_S = 2700.0
# what a vLLM process holds outside gpu_memory_utilization (torch, CUDA context, Python), fitted to
# seed 002: two lanes at 0.45 + 0.35 of a 128 GB Spark measured ~114 GB together (0.80 x 128 = 102.4)
VLLM_RUNTIME_OUTSIDE_BYTES = int(5.4 * GIB)
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def canonical_ip(value: str, hint: str) -> str:
    """`value` as a normalised IP address; ValueError with `hint` for anything else (names included)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address; {hint}") from None


class ClusterNode(BaseModel):
    """One machine of the lane. The first node in the list is the head."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    address: str = Field(description="this node's IP on the fast interface (ConnectX-7 / RoCE), not Wi-Fi/10G")
    interface: str | None = Field(default=None, description="the fast NIC (e.g. enp1s0f1np1); checked to hold "
                                                            "`address`, pinned for NCCL/Gloo/UCX")
    ib_hca: list[str] = Field(default_factory=list, description="RoCE HCAs for NCCL_IB_HCA (rocep1s0f1,…)")
    ssh: str | None = Field(default=None, description="`user@host` lanekit reaches the node by; None: this machine")
    python: str | None = Field(default=None, description="interpreter with ray (+ vllm) on the node")
    gpus: int = Field(default=1, ge=0)
    memory_bytes: int | None = Field(default=None, ge=1, description="this node's own pool (a GPU's memory, or a "
                                                                    "share you give it); default: its machine's "
                                                                    "memory, probed, shared by its nodes")
    rpc_port: int = Field(default=RPC_PORT, ge=1, le=65535)
    rpc_threads: int | None = Field(default=None, ge=1, description="rpc-server -t (CPU device threads)")
    env: dict[str, str] = Field(default_factory=dict, description="variables for this node only")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return canonical_ip(value, "give the node's IP on the fast interface (a hostname can resolve to the "
                                   "wrong NIC)")

    @property
    def local(self) -> bool:
        return self.ssh is None

    @property
    def host_key(self) -> str:
        """Nodes with the same key share one pool: their machine's memory, unless a node declares its
        own (`memory_bytes`: one GPU of several on a host, or a share it is given)."""
        if self.memory_bytes is not None:
            return f"{self.ssh or 'localhost'}/{self.name}"
        return self.ssh or "localhost"


class ClusterSpec(BaseModel):
    """A lane spread over several nodes. `lane` is an ordinary lane (vllm or llamacpp) on the head."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    nodes: list[ClusterNode] = Field(min_length=1)
    tensor_parallel: int = Field(default=1, ge=1)
    pipeline_parallel: int = Field(default=1, ge=1)
    expert_parallel: bool = False
    ray_port: int = Field(default=RAY_PORT, ge=1, le=65535)
    dashboard: bool = False
    env: dict[str, str] = Field(default_factory=dict, description="variables for every node (set at `ray start`, "
                                                                  "so Ray's workers inherit them)")
    nccl_debug: str | None = Field(default="INFO", description="NCCL_DEBUG; INFO logs the transport the check reads")
    size_as: str | None = Field(default=None, description="catalog id to size the model by (when `lane.model` is "
                                                          "a repo the catalog does not know)")
    quant: str | None = Field(default=None, description="weights' quant for sizing (GPTQ, AWQ, NVFP4, …)")
    tensor_split: list[float] | None = Field(default=None, description="llama.cpp RPC: share per node")
    lane: LaneSpec

    @model_validator(mode="before")
    @classmethod
    def _lane(cls, data: Any) -> Any:
        """The lane is named after the cluster unless it says otherwise, and waits out a long warm-up."""
        if isinstance(data, dict) and isinstance(data.get("lane"), dict):
            lane = {"name": data.get("name"), "warm_timeout_s": CLUSTER_WARM_TIMEOUT_S, **data["lane"]}
            data = {**data, "lane": parse_lane(lane, where="cluster.lane")}
        return data

    @model_validator(mode="after")
    def _consistent(self):
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("nodes: node names must be unique")
        if self.engine == "vllm":
            addrs = [n.address for n in self.nodes]
            if len(set(addrs)) != len(addrs):
                raise ValueError("nodes: every node needs its own address (VLLM_HOST_IP must be unique per node)")
            gpus = sum(n.gpus for n in self.nodes)
            world = self.tensor_parallel * self.pipeline_parallel
            if world != gpus:
                raise ValueError(f"tensor_parallel x pipeline_parallel = {world} but the nodes hold {gpus} GPUs; "
                                 "vLLM needs one rank per GPU (seed 003: 2 Sparks x 1 GPU, TP=2)")
        else:
            ends = [(n.address, n.rpc_port) for n in self.nodes]
            if len(set(ends)) != len(ends):
                raise ValueError("nodes: every rpc-server needs its own address:rpc_port")
            if self.tensor_parallel != 1 or self.pipeline_parallel != 1 or self.expert_parallel:
                raise ValueError("llama.cpp RPC splits layers across nodes; tensor_parallel, pipeline_parallel "
                                 "and expert_parallel apply to vllm only")
            if self.tensor_split is not None and len(self.tensor_split) != len(self.nodes):
                raise ValueError(f"tensor_split has {len(self.tensor_split)} shares for {len(self.nodes)} nodes")
        return self

    @property
    def engine(self) -> Literal["vllm", "llamacpp"]:
        if self.lane.engine == "vllm":
            return "vllm"
        if self.lane.engine == "llamacpp":
            return "llamacpp"
        raise ConfigError(f"cluster.lane.engine: {self.lane.engine!r} cannot span nodes here",
                          fix="use engine vllm (Ray) or llamacpp (RPC)")

    @property
    def head(self) -> ClusterNode:
        return self.nodes[0]

    @property
    def world_size(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel


def read_section(path: Path, key: str, holds: str) -> dict[str, Any]:
    """The mapping under `key:` of a YAML file (or the whole document); ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"{key} file {path} not found", fix=f"pass the path of a {key} YAML file")
    doc = read_yaml(path) or {}
    data = doc.get(key, doc) if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a `{key}:` mapping", fix=f"start the file with `{key}:` {holds}")
    return dict(data)


def load_cluster_file(path: str | Path) -> ClusterSpec:
    """Read a cluster file (`cluster: {name, nodes: [...], lane: {...}}`); errors name the field."""
    from pydantic import ValidationError

    path = Path(path)
    data = read_section(path, "cluster", "holding `name`, `nodes` and `lane`")
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid cluster: {format_validation_error(exc, 'cluster')}",
                          fix="correct the named field") from None


# -- per-node environment and commands ----------------------------------------------------------
def node_env(spec: ClusterSpec, node: ClusterNode) -> dict[str, str]:
    """What every process lanekit starts on `node` gets: its own host IP, the fast NIC pinned for every
    transport, NCCL's transport logged, Ray's drain and memory monitor off; then cluster and node env."""
    env: dict[str, str] = {}
    if spec.engine == "vllm":
        env["VLLM_HOST_IP"] = node.address  # unique per node: the wrong one of several IPs breaks placement
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"  # no Serve to drain; teardown is lanekit's
        env["RAY_memory_monitor_refresh_ms"] = "0"  # UMA: vLLM's reservation would trip Ray's OOM killer
        if node.interface:
            for var in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "TP_SOCKET_IFNAME", "UCX_NET_DEVICES"):
                env[var] = node.interface
        if node.ib_hca:
            env["NCCL_IB_HCA"] = ",".join(node.ib_hca)
            env["NCCL_IB_DISABLE"] = "0"
        if spec.nccl_debug:
            env["NCCL_DEBUG"] = spec.nccl_debug
    return {**env, **spec.env, **node.env}


def ray_start_argv(spec: ClusterSpec, node: ClusterNode, ray: str = "ray") -> list[str]:
    """`ray start --block …` for `node`: the head opens the cluster, the others join it. `--block`
    keeps one leader per node that owns Ray's processes (one process group to stop)."""
    argv = [ray, "start", "--block", "--node-ip-address", node.address, "--num-gpus", str(node.gpus),
            "--disable-usage-stats"]
    if node is spec.head:
        argv[2:2] = ["--head", "--port", str(spec.ray_port)]
        argv += ["--include-dashboard", "true" if spec.dashboard else "false"]
    else:
        argv[2:2] = ["--address", f"{spec.head.address}:{spec.ray_port}"]
    return argv


def vllm_head_argv(spec: ClusterSpec, port: int, vllm: str = "vllm") -> list[str]:
    """`vllm serve MODEL …` on the head: the lane's flags, TP/PP across the cluster, EP, the Ray executor
    (the default executor changed under users once: it must be explicit)."""
    from lanekit.lanes.engines.vllm import server_flags

    lane = spec.lane.model_copy(update={"tensor_parallel_size": spec.tensor_parallel})
    argv = [vllm, "serve", lane.model, *server_flags(lane, lane.host, port)]
    if spec.pipeline_parallel > 1:
        argv += ["--pipeline-parallel-size", str(spec.pipeline_parallel)]
    if spec.expert_parallel:
        argv.append("--enable-expert-parallel")
    return argv + ["--distributed-executor-backend", "ray"]


def vllm_head_env(spec: ClusterSpec) -> dict[str, str]:
    """The head's node env, the lane's env and RAY_ADDRESS, so vLLM joins lanekit's cluster (never a new one)."""
    return {**node_env(spec, spec.head), **spec.lane.env, "RAY_ADDRESS": f"{spec.head.address}:{spec.ray_port}"}


def rpc_server_argv(node: ClusterNode, rpc_server: str = "rpc-server") -> list[str]:
    """`rpc-server -H ADDRESS -p PORT` for `node` (bound to its fast-interface address, never 0.0.0.0:
    the RPC protocol has no authentication)."""
    argv = [rpc_server, "-H", node.address, "-p", str(node.rpc_port)]
    if node.rpc_threads:
        argv += ["-t", str(node.rpc_threads)]
    return argv


def rpc_endpoints(spec: ClusterSpec) -> str:
    """The `--rpc` value: every node's rpc-server, in node order."""
    return ",".join(f"{_host(n.address)}:{n.rpc_port}" for n in spec.nodes)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def rpc_lane(spec: ClusterSpec, llama_server: str | None = None) -> LaneSpec:
    """The head's llama-server lane: all layers offloaded to the rpc-servers (`-ngl 99`), split by
    `tensor_split` or by the servers' free memory."""
    lane = spec.lane
    extra = ["--rpc", rpc_endpoints(spec)]
    if lane.gpu_layers is None:
        extra += ["-ngl", "99"]
    if spec.tensor_split:
        extra += ["--tensor-split", ",".join(f"{s:g}" for s in spec.tensor_split)]
    update: dict[str, Any] = {"extra_args": [*extra, *lane.extra_args]}
    if llama_server and not lane.binary:
        update["binary"] = llama_server
    return lane.model_copy(update=update)


# -- sizing per node ---------------------------------------------------------------------------
class NodeShare(BaseModel):
    """What one node must hold and what it has."""

    node: str
    host: str
    pool_bytes: int
    os_reserve_bytes: int
    weights_bytes: int
    kv_bytes: int
    overhead_bytes: int
    reserved_bytes: int | None = None  # vLLM: gpu_memory_utilization x pool
    outside_bytes: int = 0             # vLLM: runtime outside the reservation
    need_bytes: int

    def lines(self) -> list[str]:
        out = [(f"{self.node}: weights {fmt_bytes(self.weights_bytes)} + kv {fmt_bytes(self.kv_bytes)} + "
                f"overhead {fmt_bytes(self.overhead_bytes)}")]
        if self.reserved_bytes is not None:
            out.append(f"  reserved {fmt_bytes(self.reserved_bytes)} (gpu_memory_utilization x "
                       f"{fmt_bytes(self.pool_bytes)}) + runtime {fmt_bytes(self.outside_bytes)}")
        out.append(f"  needs {fmt_bytes(self.need_bytes)} + reserve {fmt_bytes(self.os_reserve_bytes)} of "
                   f"{fmt_bytes(self.pool_bytes)} on {self.host}")
        return out


def model_estimate(spec: ClusterSpec, pool_bytes: int | None = None):
    """The whole model's weights and KV (one engine-wide estimate; shares divide it)."""
    from lanekit.lanes.engines._common import resolve_shape

    lane = spec.lane
    if spec.engine == "llamacpp":
        from lanekit.lanes.engine import engine_for

        return engine_for(lane).memory_estimate(lane)
    shape = resolve_shape(spec.size_as or lane.model)
    if shape is None:
        raise ConfigError(f"cluster.lane.model: cannot size {lane.model!r} (not a folder or catalog id)",
                          fix="set cluster.size_as to a catalog id (`lanekit fit --catalog`) and cluster.quant")
    quant = spec.quant or quant_from_flag(getattr(lane, "quantization", None))
    return estimate_memory(shape, ctx=lane.ctx, parallel=lane.parallel, kv_dtype=lane.kv_dtype, engine="vllm",
                           quant=quant, headroom_bytes=0)


def quant_from_flag(flag: str | None) -> str | None:
    """vLLM's --quantization names → the catalog's quant families (gptq_marlin → GPTQ)."""
    if not flag:
        return None
    for family in ("gptq", "awq", "fp8", "nvfp4", "mxfp4"):
        if flag.lower().startswith(family):
            return family.upper()
    return None


def node_shares(spec: ClusterSpec, pools: dict[str, tuple[int, int]]) -> list[NodeShare]:
    """Each node's part of the lane. `pools[node] = (pool_bytes, os_reserve_bytes)`.

    vLLM: weights and KV split over TP x PP ranks (one per GPU), each rank reserving
    gpu_memory_utilization of its node's pool plus its runtime outside it. llama.cpp RPC: layers split
    by `tensor_split` (default: in proportion to the nodes' pools), plus the head's llama-server share.
    """
    est = model_estimate(spec)
    shares: list[NodeShare] = []
    if spec.engine == "vllm":
        gmu = getattr(spec.lane, "gpu_memory_utilization", None)
        for node in spec.nodes:
            pool, reserve = pools[node.name]
            frac = node.gpus / spec.world_size
            weights, kv = int(est.weights_bytes * frac), int(est.kv_needed_bytes * frac)
            overhead = node.gpus * default_overhead_bytes(_shape_of(spec), "vllm")
            reserved = int(gmu * pool) if gmu else None
            outside = node.gpus * VLLM_RUNTIME_OUTSIDE_BYTES
            need = max(reserved or 0, weights + kv + overhead) + outside
            shares.append(NodeShare(node=node.name, host=node.host_key, pool_bytes=pool, os_reserve_bytes=reserve,
                                    weights_bytes=weights, kv_bytes=kv, overhead_bytes=overhead,
                                    reserved_bytes=reserved, outside_bytes=outside, need_bytes=need))
        return shares
    split = spec.tensor_split or [pools[n.name][0] for n in spec.nodes]
    total = sum(split) or 1
    for node, part in zip(spec.nodes, split):
        pool, reserve = pools[node.name]
        frac = part / total
        weights, kv = int(est.weights_bytes * frac), int(est.kv_bytes * frac)
        overhead = GIB // 4  # rpc-server: its compute buffer for the layers it holds
        if node is spec.head and node.memory_bytes is None:
            overhead += est.overhead_bytes  # llama-server shares this machine's pool: context, logits
        shares.append(NodeShare(node=node.name, host=node.host_key, pool_bytes=pool, os_reserve_bytes=reserve,
                                weights_bytes=weights, kv_bytes=kv, overhead_bytes=overhead,
                                need_bytes=weights + kv + overhead))
    return shares


def _shape_of(spec: ClusterSpec):
    from lanekit.lanes.engines._common import resolve_shape

    return resolve_shape(spec.size_as or spec.lane.model)


def check_shares(spec: ClusterSpec, shares: list[NodeShare]) -> None:
    """Refuse the lane (LaneWontFit, naming the node and the arithmetic) when a node's share does not fit
    its reservation, or the nodes on one machine exceed it with its OS reserve."""
    for share in shares:
        inside = share.weights_bytes + share.kv_bytes + share.overhead_bytes
        if share.reserved_bytes is not None and inside > share.reserved_bytes:
            raise LaneWontFit(f"cluster {spec.name!r}: node {share.node} needs {fmt_bytes(inside)} inside its "
                              f"reservation of {fmt_bytes(share.reserved_bytes)}:\n  " + "\n  ".join(share.lines()),
                              fix="raise gpu_memory_utilization, lower ctx/parallel or kv_dtype fp8, or add a node")
    by_host: dict[str, list[NodeShare]] = {}
    for share in shares:
        by_host.setdefault(share.host, []).append(share)
    for host, group in by_host.items():
        pool, reserve = group[0].pool_bytes, max(s.os_reserve_bytes for s in group)
        need = sum(s.need_bytes for s in group) + reserve
        if need > pool:
            lines = [line for s in group for line in s.lines()]
            what = "gpu_memory_utilization or ctx" if spec.engine == "vllm" else "ctx, set tensor_split"
            raise LaneWontFit(f"cluster {spec.name!r}: {', '.join(s.node for s in group)} on {host} need "
                              f"{fmt_bytes(need)} with the reserve, {fmt_bytes(need - pool)} more than its "
                              f"{fmt_bytes(pool)}:\n  " + "\n  ".join(lines),
                              fix=f"lower {what}, use a smaller quant, or add a node")


def weights_per_node_gib(spec: ClusterSpec) -> float:
    """The weights one vLLM rank holds, in GiB (seed 003 measured 57.64 GiB per Spark)."""
    est = model_estimate(spec)
    return est.weights_bytes / spec.world_size / GIB if spec.engine == "vllm" else math.nan
