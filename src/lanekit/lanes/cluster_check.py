"""`lanekit cluster check`: the fabric preflight of a multi-node lane, each failure with its code and fix.

What users hit (FIELD-NOTES-2 §B): Ray/Python/vLLM versions differing between nodes, the head's IP
rewritten to the wrong interface, VLLM_HOST_IP not unique, NCCL silently on NET/Socket instead of IB,
an MTU reset after a reboot, pinned GID indexes that drift, mismatched llama.cpp RPC builds. Pure
functions of what the probes, Ray and the engine log report.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import BaseModel

from lanekit.lanes.cluster import ClusterSpec
from lanekit.lanes.cluster_nodes import NodeFacts

Status = Literal["pass", "warn", "fail", "skip"]


class Finding(BaseModel):
    """One check on one node (or the whole cluster): a stable code, what was seen, the fix."""

    code: str
    status: Status
    node: str | None = None
    message: str
    fix: str | None = None

    def line(self) -> str:
        where = f"{self.node}: " if self.node else ""
        return f"{self.status.upper():4} {self.code:24} {where}{self.message}"


def _versions(spec: ClusterSpec, facts: dict[str, NodeFacts], engine_required: bool = True) -> list[Finding]:
    out: list[Finding] = []
    head = facts[spec.head.name]
    packages = ["ray", "vllm", "torch"] if spec.engine == "vllm" else []
    for pkg in packages:
        seen = {name: getattr(f, pkg) for name, f in facts.items()}
        missing = [n for n, v in seen.items() if v is None]
        if pkg != "ray" and not engine_required and len(missing) == len(seen):
            out.append(Finding(code=f"{pkg}-version", status="skip", message=f"{pkg} not installed (Ray-only run)"))
            continue
        if pkg != "torch" and missing:
            out.append(Finding(code=f"{pkg}-missing", status="fail", node=",".join(missing),
                               message=f"{pkg} is not installed for {', '.join(facts[n].executable for n in missing)}",
                               fix=f"install {pkg}=={getattr(head, pkg) or '<same version>'} on every node "
                                   f"(or point nodes[].python at the env that has it)"))
            continue
        present = {v for v in seen.values() if v is not None}
        if len(present) > 1:
            detail = ", ".join(f"{n} {v}" for n, v in seen.items())
            out.append(Finding(code=f"{pkg}-version-mismatch", status="fail", message=f"{pkg} differs: {detail}",
                               fix=f"install the head's {pkg}=={head_or(seen, spec)} on every node; Ray refuses to "
                                   "join a node of another version (RAY_IGNORE_VERSION_MISMATCH does not help)"))
        elif present:
            out.append(Finding(code=f"{pkg}-version", status="pass", message=f"{pkg} {present.pop()} on every node"))
    pythons = {n: ".".join(f.python.split(".")[:2]) for n, f in facts.items()}
    if len(set(pythons.values())) > 1:
        out.append(Finding(code="python-version-mismatch", status="fail",
                           message="Python differs: " + ", ".join(f"{n} {facts[n].python}" for n in pythons),
                           fix="use the same Python minor version on every node (Ray compares it at join)"))
    else:
        out.append(Finding(code="python-version", status="pass", message=f"Python {head.python} on every node"))
    return out


def head_or(seen: dict[str, str | None], spec: ClusterSpec) -> str:
    return seen.get(spec.head.name) or next((v for v in seen.values() if v), "?")


def _addresses(spec: ClusterSpec, facts: dict[str, NodeFacts]) -> list[Finding]:
    out: list[Finding] = []
    for node in spec.nodes:
        ifaces = facts[node.name].interfaces
        holder = _interface_of(node.address, ifaces)
        if node.interface and node.interface not in ifaces:
            out.append(Finding(code="interface-missing", status="fail", node=node.name,
                               message=f"no interface {node.interface} (has {', '.join(sorted(ifaces)) or 'none'})",
                               fix="name the fast NIC as `ip -br link` shows it (ibdev2netdev maps RoCE devices)"))
        elif holder is None:
            out.append(Finding(code="address-not-local", status="fail", node=node.name,
                               message=f"{node.address} is not an address of this node",
                               fix="the IP may have vanished on reboot (nmcli): re-add it on the fast NIC, "
                                   "or fix nodes[].address"))
        elif node.interface and holder != node.interface:
            out.append(Finding(code="address-on-wrong-interface", status="fail", node=node.name,
                               message=f"{node.address} is on {holder}, not the fast interface {node.interface}",
                               fix=f"use the IP of {node.interface} (the ConnectX-7 link), not the 10G/Wi-Fi one"))
        else:
            out.append(Finding(code="address-on-interface", status="pass", node=node.name,
                               message=f"{node.address} on {holder}"))
    return out


def _interface_of(address: str, ifaces: dict[str, dict]) -> str | None:
    """The interface holding `address` (loopback holds its whole 127/8 network)."""
    ip = ipaddress.ip_address(address)
    for name, info in ifaces.items():
        for cidr in info.get("addrs", []):
            iface = ipaddress.ip_interface(cidr)
            if iface.ip == ip or (info.get("loopback") and ip in iface.network):
                return name
    return None


def _mtu(spec: ClusterSpec, facts: dict[str, NodeFacts]) -> list[Finding]:
    mtus = {}
    for node in spec.nodes:
        ifaces = facts[node.name].interfaces
        name = node.interface or _interface_of(node.address, ifaces)
        if name and name in ifaces:
            mtus[node.name] = (name, ifaces[name].get("mtu"))
    if len(mtus) < 2:
        return [Finding(code="mtu", status="skip", message="fewer than two fast interfaces found to compare")]
    values = {mtu for _, mtu in mtus.values()}
    detail = ", ".join(f"{n} {i} {m}" for n, (i, m) in mtus.items())
    if len(values) > 1:
        return [Finding(code="mtu-mismatch", status="fail", message=f"MTU differs: {detail}",
                        fix="set the same MTU on every fast NIC (RoCE: 9000; a firmware reboot can reset one to "
                            "1500 and NCCL fails with IBV_WC_RETRY_EXC_ERR): `ip link set IFACE mtu 9000`")]
    return [Finding(code="mtu", status="pass", message=f"MTU equal: {detail}")]


def _env(spec: ClusterSpec) -> list[Finding]:
    from lanekit.lanes.cluster import node_env

    out = []
    for node in spec.nodes:
        if "NCCL_IB_GID_INDEX" in node_env(spec, node):
            out.append(Finding(code="gid-index-pinned", status="warn", node=node.name,
                               message="NCCL_IB_GID_INDEX is pinned; GID indexes drift across reboots",
                               fix="remove NCCL_IB_GID_INDEX and let NCCL resolve the RoCE v2 GID at run time"))
    return out


def _rpc_builds(spec: ClusterSpec, facts: dict[str, NodeFacts]) -> list[Finding]:
    hashes = {n: next(iter(f.files.values()), None) for n, f in facts.items() if f.files}
    if not hashes:
        return []
    missing = [n for n, h in hashes.items() if h is None]
    if missing:
        return [Finding(code="rpc-server-missing", status="fail", node=",".join(missing),
                        message="rpc-server is not at the build's path on this node",
                        fix="copy the RPC build to the same path on every node (`lanekit build rpc` there)")]
    if len(set(hashes.values())) > 1:
        return [Finding(code="rpc-build-mismatch", status="fail", message="rpc-server builds differ between nodes",
                        fix="build every node from the same source (`lanekit build rpc`): mismatched RPC "
                            "protocol versions refuse to talk (llama.cpp #26392)")]
    return [Finding(code="rpc-build", status="pass", message="the same rpc-server build on every node")]


def check_nodes(spec: ClusterSpec, facts: dict[str, NodeFacts], engine_required: bool = True) -> list[Finding]:
    """Everything that can be checked before anything starts: versions, addresses, MTU, env, builds.
    `engine_required=False` (a Ray-only bring-up) lets vLLM be absent everywhere, never on one node only."""
    return [*_versions(spec, facts, engine_required), *_addresses(spec, facts), *_mtu(spec, facts), *_env(spec),
            *_rpc_builds(spec, facts)]


def check_ray_nodes(spec: ClusterSpec, ray_nodes: list[dict]) -> list[Finding]:
    """Ray's own view once the cluster is up: every node joined, each under the address it was given
    (a head on 127.0.0.1 or on a multi-homed box gets rewritten to another interface)."""
    alive = {n.get("NodeManagerAddress"): n for n in ray_nodes if n.get("Alive")}
    out = []
    for node in spec.nodes:
        if node.address in alive:
            out.append(Finding(code="ray-node", status="pass", node=node.name,
                               message=f"joined Ray as {node.address}"))
            continue
        head = node is spec.head
        other = sorted(a for a in alive if a not in {n.address for n in spec.nodes})
        seen = f" (Ray lists {', '.join(other)})" if other else ""
        out.append(Finding(code="head-ip-rewritten" if head and other else "ray-node-missing", status="fail",
                           node=node.name,
                           message=(f"Ray registered the head under another address than {node.address}{seen}"
                                    if head and other else f"{node.address} is not a live Ray node{seen}"),
                           fix=("start the head with --node-ip-address on the fast interface (lanekit does) and "
                                "give it a routable address: Ray rewrites 127.0.0.1 and picks the default route's "
                                "IP on multi-homed hosts; set VLLM_HOST_IP to the same address"
                                if head else "read the node's Ray log; check the node can reach "
                                             f"{spec.head.address}:{spec.ray_port} over the fast link")))
    return out


_VIA = re.compile(r"via (NET/[A-Za-z]+|P2P|SHM|CollNet)", re.IGNORECASE)
_USING = re.compile(r"Using network (\w+)", re.IGNORECASE)


def nccl_transport(log_text: str) -> str | None:
    """The inter-node transport NCCL chose, from an NCCL_DEBUG=INFO log: IB (RoCE too), Socket, or None."""
    via = {m.group(1).upper() for m in _VIA.finditer(log_text)}
    nets = {v.split("/", 1)[1] for v in via if v.startswith("NET/")}
    if nets:
        return "Socket" if nets == {"SOCKET"} else "IB" if "IB" in nets else min(nets).title()
    using = [m.group(1) for m in _USING.finditer(log_text)]
    if using:
        return "IB" if using[-1].upper() == "IB" else using[-1].title()
    return None


def check_nccl(spec: ClusterSpec, log_text: str | None) -> list[Finding]:
    """NET/IB is the fabric; NET/Socket across nodes is TCP, an order of magnitude slower, and silent."""
    if spec.engine != "vllm" or len(spec.nodes) < 2:
        return []
    if not log_text:
        return [Finding(code="nccl-transport", status="skip", message="no engine log to read yet",
                        fix="run the check on a started cluster, or pass --log FILE")]
    transport = nccl_transport(log_text)
    if transport is None:
        return [Finding(code="nccl-transport", status="skip", message="the log names no NCCL transport",
                        fix="start with NCCL_DEBUG=INFO (cluster.nccl_debug, lanekit's default)")]
    if transport == "Socket":
        return [Finding(code="nccl-socket", status="fail", message="NCCL runs over NET/Socket (TCP), not IB/RoCE",
                        fix="check NCCL_IB_HCA against `ibdev2netdev`, NCCL_IB_DISABLE=0, the RoCE link state, and "
                            "that containers see /dev/infiniband (--privileged or --device)")]
    return [Finding(code="nccl-transport", status="pass", message=f"NCCL uses NET/{transport}")]


def failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status == "fail"]
