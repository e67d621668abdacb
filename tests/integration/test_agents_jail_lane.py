"""The jail's one way out, against the real llama-server: a jailed client reaches the lane
through the bridge at the URL Hermes is given, and nothing else on the host's loopback."""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from lanekit.agents.jail import Jail, LaneBridge, Limits, default_jail
from lanekit.lanes import LaneSpec, serve_lane

CLIENT = textwrap.dedent("""
    import json, socket, sys, urllib.request
    base, other_port = sys.argv[1], int(sys.argv[2])
    out = {"models": json.load(urllib.request.urlopen(base + "/models", timeout=30))}
    body = json.dumps({"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}).encode()
    req = urllib.request.Request(base + "/chat/completions", body, {"Content-Type": "application/json"})
    out["chat"] = json.load(urllib.request.urlopen(req, timeout=120))
    try:
        socket.create_connection(("127.0.0.1", other_port), timeout=2)
        out["other"] = "OPEN"
    except OSError as exc:
        out["other"] = f"blocked {exc.errno}"
    print(json.dumps(out))
""")


@pytest.mark.timeout(600)
def test_a_jailed_client_reaches_the_lane_and_only_the_lane(llama_server, smollm2_path):
    jail: Jail = default_jail()
    jail.require("the lane bridge test")
    python_ro = sorted({Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent})
    other = socket.create_server(("127.0.0.1", 0))  # a host service the jail must not reach
    other.settimeout(0.2)
    spec = LaneSpec(name="it-jail-bridge", engine="llamacpp", model="smollm2-135m", ctx=2048, threads=2)
    ws = Path(tempfile.mkdtemp(prefix="lanekit-jail-it-"))
    jail.adopt(ws)
    try:
        with serve_lane(spec) as lane, LaneBridge(lane.base_url, owner=jail.owner) as bridge:
            res = jail.run([sys.executable, "-I", "-S", "-c", CLIENT, bridge.jail_url, str(other.getsockname()[1])],
                           cwd=ws, ro=python_ro, rw=[ws], timeout_s=300, net=bridge.net(sys.executable),
                           limits=Limits(cpu_s=300, address_space_bytes=4 << 30))
            connections = bridge.connections
    finally:
        import shutil

        shutil.rmtree(ws, ignore_errors=True)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    out = json.loads(res.stdout)
    assert out["models"]["data"] and out["chat"]["choices"][0]["message"]["content"] is not None
    assert out["other"].startswith("blocked")
    assert connections == 2
    with pytest.raises(TimeoutError):
        other.accept()
    other.close()
