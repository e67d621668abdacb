"""Talking to a node of a multi-node lane: run a command there (this machine, or `ssh` for another),
probe what it has (versions, interfaces and MTU, memory), start a long-running process marked as the
lane's, and stop exactly the processes that carry that mark.

The probe and the stop run as one stdlib-only Python script on the node's own interpreter (the one Ray
and vLLM run under), so what is checked is what will run, and a node needs nothing of lanekit's.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from lanekit.errors import ConfigError
from lanekit.lanes import procs
from lanekit.lanes.cluster import ClusterNode

SSH_OPTS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")
PROBE_TIMEOUT_S = 60.0

# Runs on the node: `python - ACTION ARGS… < script`. Prints one JSON object. stdlib only.
NODE_SCRIPT = r'''
import json, os, platform, signal, socket, subprocess, sys, time
from importlib import metadata

def version(name):
    try:
        return metadata.version(name)
    except Exception:
        return None

def interfaces():
    out = {}
    try:
        data = json.loads(subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True,
                                         timeout=10).stdout or "[]")
        for item in data:
            out[item["ifname"]] = {"mtu": item.get("mtu"), "up": "UP" in item.get("flags", []),
                                   "loopback": "LOOPBACK" in item.get("flags", []),
                                   "addrs": [f'{a["local"]}/{a["prefixlen"]}' for a in item.get("addr_info", [])]}
        if out:
            return out
    except Exception:
        pass
    try:
        import psutil
        stats = psutil.net_if_stats()
        for name, addrs in psutil.net_if_addrs().items():
            st = stats.get(name)
            ips = []
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6) and a.netmask:
                    import ipaddress
                    net = ipaddress.ip_network(f"{a.address.split('%')[0]}/{a.netmask}", strict=False)
                    ips.append(f"{a.address.split('%')[0]}/{net.prefixlen}")
            out[name] = {"mtu": st.mtu if st else None, "up": bool(st and st.isup),
                         "loopback": name == "lo", "addrs": ips}
    except Exception:
        pass
    return out

def meminfo():
    vals = {}
    try:
        for line in open("/proc/meminfo"):
            key, rest = line.split(":", 1)
            vals[key] = int(rest.split()[0]) * 1024
    except Exception:
        pass
    return vals.get("MemTotal"), vals.get("MemAvailable")

def read(path):
    try:
        return open(path).read().strip()
    except Exception:
        return None

def session_of(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[3])
    except Exception:
        return None

def mentions(pid, tag):
    """The process names `tag` in its command line or an open file (Ray's processes log under it)."""
    try:
        if tag.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
            return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if tag in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    return True
            except Exception:
                pass
    except Exception:
        pass
    return False

def marked(marker, home, sids=(), tag=""):
    """Pids carrying the marker in their environment, plus (with `sids`) the members of the sessions
    lanekit started that name `tag`: processes that rewrite their title (Ray's agents, through
    setproctitle) overwrite the start of their environment, the marker with it."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except Exception:
            continue
        if state == "Z":
            continue
        if f"LANEKIT_LANE={marker}".encode() in env and (not home or f"LANEKIT_HOME={home}".encode() in env):
            found.append(int(pid))
        elif sids and tag and session_of(pid) in sids and mentions(pid, tag):
            found.append(int(pid))
    return found

def sha256(path):
    import hashlib
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except Exception:
        return None

action = sys.argv[1]
if action == "probe":
    total, avail = meminfo()
    gpus = None
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        gpus = len([l for l in res.stdout.splitlines() if l.startswith("GPU ")]) if res.returncode == 0 else None
    except Exception:
        pass
    files = {p: sha256(p) for p in sys.argv[2:]}
    print(json.dumps({"hostname": socket.gethostname(), "python": platform.python_version(),
                      "executable": sys.executable, "ray": version("ray"), "vllm": version("vllm"),
                      "torch": version("torch"), "boot_id": read("/proc/sys/kernel/random/boot_id"),
                      "machine_id": read("/etc/machine-id"), "mem_total_bytes": total,
                      "mem_available_bytes": avail, "gpus": gpus, "interfaces": interfaces(), "files": files}))
elif action == "stop":
    marker, home, grace = sys.argv[2], sys.argv[3], float(sys.argv[4])
    tag = sys.argv[5] if len(sys.argv) > 5 else ""
    sids = {int(x) for x in sys.argv[6:]}

    def send(pids, sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except Exception:
                pass
        return pids

    pids = send(marked(marker, home, sids, tag), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and marked(marker, home, sids, tag):
        time.sleep(0.2)
    killed = send(marked(marker, home, sids, tag), signal.SIGKILL)
    time.sleep(0.5)
    print(json.dumps({"signalled": pids, "killed": killed, "survivors": marked(marker, home, sids, tag)}))
elif action == "list":
    print(json.dumps({"pids": marked(sys.argv[2], sys.argv[3], {int(x) for x in sys.argv[5:]},
                                     sys.argv[4] if len(sys.argv) > 4 else "")}))
'''


class NodeFacts(BaseModel):
    """What the probe found on one node."""

    node: str
    hostname: str
    python: str
    executable: str
    ray: str | None = None
    vllm: str | None = None
    torch: str | None = None
    boot_id: str | None = None
    machine_id: str | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    gpus: int | None = None
    interfaces: dict[str, dict] = Field(default_factory=dict)
    files: dict[str, str | None] = Field(default_factory=dict)


class StopResult(BaseModel):
    """What stopping a node's marked processes did."""

    node: str
    signalled: list[int]
    killed: list[int]
    survivors: list[int]


def marker(cluster: str, node: str) -> str:
    """The LANEKIT_LANE value every process of `node` carries (teardown finds them by it)."""
    return f"{cluster}@{node}"


class NodeShell:
    """Runs commands on one node: here, or through `ssh` (BatchMode: a missing key fails at once)."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node

    @property
    def python(self) -> str:
        if self.node.python:
            return self.node.python
        return sys.executable if self.node.local else "python3"

    def tool(self, name: str) -> str:
        """An executable beside the node's interpreter (ray, vllm), else the bare name."""
        if self.node.local:
            beside = Path(self.python).parent / name
            return str(beside) if beside.is_file() else name
        return str(Path(self.python).parent / name) if self.node.python else name

    def wrap(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """The argv that runs `argv` (with `env`) on the node."""
        if self.node.local:
            return argv
        prefix = ["env", *[f"{k}={v}" for k, v in (env or {}).items()]] if env else []
        return ["ssh", *SSH_OPTS, self.node.ssh, "--", shlex.join(prefix + argv)]

    def run(self, argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout_s: float = PROBE_TIMEOUT_S) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})} if self.node.local else None
        try:
            return subprocess.run(self.wrap(argv, None if self.node.local else env), input=stdin, text=True,
                                  capture_output=True, timeout=timeout_s, env=full_env, check=False)
        except FileNotFoundError as exc:
            raise ConfigError(f"node {self.node.name}: cannot run {exc.filename}",
                              fix=f"install it on the node, or set nodes[].python for {self.node.name}") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(f"node {self.node.name}: `{' '.join(argv[:3])}` did not answer in {timeout_s:.0f}s",
                              fix=f"check that {self.node.ssh or 'this machine'} is reachable") from None

    def script(self, *args: str, env: dict[str, str] | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
        """Run NODE_SCRIPT with `args` on the node's interpreter; its JSON answer."""
        proc = self.run([self.python, "-", *args], stdin=NODE_SCRIPT, env=env, timeout_s=timeout_s)
        try:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            err = " ".join((proc.stderr or proc.stdout).split()[-25:])
            raise ConfigError(f"node {self.node.name}: {self.python} did not run lanekit's probe "
                              f"(exit {proc.returncode}): {err}",
                              fix=f"set nodes[].python for {self.node.name} to a working Python 3") from None

    def probe(self, files: list[str] | None = None, env: dict[str, str] | None = None) -> NodeFacts:
        return NodeFacts(node=self.node.name, **self.script("probe", *(files or []), env=env))

    def spawn(self, argv: list[str], env: dict[str, str], mark: str, log_path: Path) -> int:
        """Start `argv` as a long-running process of the lane on the node; returns its pid.

        Local: its own session, logs to `log_path`, marked in its environment. Remote: the same through
        `setsid nohup` over ssh (the log stays on the node, under the same path)."""
        from lanekit.dirs import home

        marks = {procs.OWNER_ENV: mark, procs.HOME_ENV: str(home())}
        if self.node.local:
            with open(log_path, "ab") as log:
                log.write(("$ " + shlex.join(argv) + "\n").encode())
                log.flush()
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env={**os.environ, **env, **marks}, start_new_session=True)
            return proc.pid
        line = (f"mkdir -p {shlex.quote(str(log_path.parent))} && setsid nohup env "
                + " ".join(shlex.quote(f"{k}={v}") for k, v in {**env, **marks}.items())
                + f" {shlex.join(argv)} >> {shlex.quote(str(log_path))} 2>&1 < /dev/null & echo $!")
        proc = subprocess.run(["ssh", *SSH_OPTS, self.node.ssh, "--", line], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, check=False)
        try:
            return int(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ConfigError(f"node {self.node.name}: could not start {argv[0]} over ssh: {proc.stderr.strip()}",
                              fix=f"check `ssh {self.node.ssh}` works without a password prompt") from None

    def marked_pids(self, mark: str, tag: str = "", sessions: list[int] | None = None) -> list[int]:
        """The node's processes of `mark`; with `tag` and `sessions`, also those in a session lanekit
        started that name `tag` (see NODE_SCRIPT's `marked`)."""
        from lanekit.dirs import home

        extra = [tag, *map(str, sessions or [])] if tag and sessions else []
        return list(self.script("list", mark, str(home()), *extra).get("pids", []))

    def stop(self, mark: str, grace_s: float = 10.0, tag: str = "", sessions: list[int] | None = None) -> StopResult:
        """SIGTERM every process on the node that carries `mark` (and this LANEKIT_HOME), or lives in one
        of `sessions` and names `tag`; SIGKILL after `grace_s`; never a process by name (`ray stop`
        would stop every Ray on the machine)."""
        from lanekit.dirs import home

        extra = [tag, *map(str, sessions or [])] if tag and sessions else []
        answer = self.script("stop", mark, str(home()), f"{grace_s:g}", *extra, timeout_s=grace_s + PROBE_TIMEOUT_S)
        return StopResult(node=self.node.name, **answer)


    def wait_listening(self, mark: str, address: str, port: int, timeout_s: float) -> bool:
        """True once one of the node's marked processes listens on address:port; False when they all
        died or at the deadline. Here the listener's pid is checked (a stranger already on the port is
        not ours); over ssh, a marked process alive and the port answering."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.node.local:
                from lanekit.dirs import home

                mine = {p.pid for p in procs.marked_processes(mark, str(home()))}
                if not mine:
                    return False
                if _listener_pids(address, port) & mine:
                    return True
            else:
                if not self.marked_pids(mark):
                    return False
                if _connects(address, port):
                    return True
            time.sleep(0.2)
        return False


def _listener_pids(address: str, port: int) -> set[int]:
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return set()
    return {c.pid for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            and c.laddr.ip in (address, "0.0.0.0", "::") and c.pid is not None}


def _connects(address: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0
