"""What a started multi-node lane leaves on record, and its teardown on every node.

A record under `<LANEKIT_HOME>/clusters/<name>.json` lists every process lanekit started on every node
(its marker, pid, log, port), so `lanekit cluster down` can stop a cluster a previous command started.
Teardown stops the head lane (verified), then each node's marked processes, newest first.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

from pydantic import BaseModel, Field

from lanekit.dirs import home
from lanekit.lanes import registry
from lanekit.lanes.cluster import ClusterSpec
from lanekit.lanes.cluster_check import Finding
from lanekit.lanes.cluster_nodes import NodeShell

NODE_STOP_GRACE_S = 15.0


class NodeProcess(BaseModel):
    """A long-running process lanekit started on a node (Ray's leader or an rpc-server)."""

    node: str
    mark: str
    pid: int
    argv: list[str]
    log_path: str
    port: int | None = None
    address: str


class ClusterRecord(BaseModel):
    """What `lanekit cluster down/status` need about a cluster a lanekit command started."""

    schema_version: int = 1
    name: str
    engine: str
    spec: dict
    processes: list[NodeProcess] = Field(default_factory=list)
    lane: str | None = None
    started_at: float = Field(default_factory=time.time)
    ready_s: float | None = None
    findings: list[Finding] = Field(default_factory=list)


class NodeTeardown(BaseModel):
    node: str
    signalled: list[int]
    survivors: list[int]
    port_closed: bool | None = None


class ClusterTeardown(BaseModel):
    """Verified teardown on every node: the lane, then every node's marked processes."""

    name: str
    lane: dict | None = None
    nodes: list[NodeTeardown]

    @property
    def verified(self) -> bool:
        lane_ok = self.lane is None or bool(self.lane.get("processes_gone") and self.lane.get("port_closed"))
        return lane_ok and all(not n.survivors and n.port_closed is not False for n in self.nodes)


def clusters_dir() -> Path:
    path = home() / "clusters"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_record(name: str) -> ClusterRecord | None:
    with contextlib.suppress(OSError, ValueError):
        return ClusterRecord.model_validate_json((clusters_dir() / f"{name}.json").read_text())
    return None


def write_record(rec: ClusterRecord) -> None:
    path = clusters_dir() / f"{rec.name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(rec.model_dump_json(indent=2))
    tmp.replace(path)


def ray_temp_dir(spec: ClusterSpec) -> str:
    """A short per-cluster Ray temp dir (Ray's socket paths must stay under 108 bytes)."""
    return f"/tmp/lkray-{hashlib.sha1(f'{home()}:{spec.name}'.encode()).hexdigest()[:10]}"


def teardown(record: ClusterRecord, lane=None) -> ClusterTeardown:
    """Stop the head lane (verified), then every node's marked processes in reverse start order; check
    each node's ports are closed; drop the record once nothing survived."""
    from lanekit.lanes.cluster import ClusterSpec as Spec
    from lanekit.lanes.teardown import signals_deferred

    spec = Spec.model_validate(record.spec)
    lane_report = None
    with signals_deferred():
        if lane is not None and lane.record is not None:
            rep = lane.stop()
            lane_report = rep.model_dump() if rep else None
        elif record.lane and registry.read(record.lane) is not None:
            from lanekit.lanes.lifecycle import down

            with contextlib.suppress(Exception):
                lane_report = down(record.lane).model_dump()
        nodes = {n.name: n for n in spec.nodes}
        reports = []
        for proc in reversed(record.processes):
            node = nodes[proc.node]
            # Ray's agents retitle themselves and lose the marker: their session (the `ray start`
            # lanekit spawned leads it) and Ray's temp dir in their open logs identify them instead
            tag = ray_temp_dir(spec) if spec.engine == "vllm" else ""
            result = NodeShell(node).stop(proc.mark, NODE_STOP_GRACE_S, tag=tag, sessions=[proc.pid])
            closed = None
            if proc.port is not None and node.local:
                from lanekit.lanes.guard import port_is_closed

                closed = port_is_closed(proc.address, proc.port)
            reports.append(NodeTeardown(node=proc.node, signalled=result.signalled, survivors=result.survivors,
                                        port_closed=closed))
    report = ClusterTeardown(name=record.name, lane=lane_report, nodes=reports)
    if all(not n.survivors for n in reports):
        (clusters_dir() / f"{record.name}.json").unlink(missing_ok=True)
        if spec.engine == "vllm" and any(n.local for n in spec.nodes):
            import shutil

            shutil.rmtree(ray_temp_dir(spec), ignore_errors=True)  # Ray's sessions and sockets on this machine
    return report
