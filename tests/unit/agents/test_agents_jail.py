"""The jail itself, against a hostile program: arbitrary Python running inside it, trying every
way out it can think of. Each attempt must fail, and the host must see nothing of it.

Unlike the escape suite (argv the tools accept), these run code the tools would never allow:
they hold only if the kernel's confinement holds, whatever a model manages to execute.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lanekit.agents import load_battery, run_task
from lanekit.agents.jail import Jail, LaneBridge, Limits, SandboxUnavailable
from lanekit.agents.tools import ToolBox, Workspace

ATTEMPTS = r'''
import ctypes, errno, json, os, socket, sys, time
args = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
out = {}

def attempt(name, fn):
    try:
        got = fn()
        out[name] = "OPEN: " + repr(got)[:200]
    except BaseException as exc:  # anything raised is a refusal
        out[name] = "blocked: " + type(exc).__name__ + ": " + str(exc)[:120]

def check(ret):
    if ret != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return ret

def connect(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(addr)
    s.sendall(b"escaped\n")
    return "connected"

attempt("read secret", lambda: open(args["secret"]).read())
attempt("list outside", lambda: os.listdir(args["outside"]))
attempt("write victim", lambda: open(args["victim"], "w").write("pwned"))
attempt("create canary", lambda: open(args["canary"], "x").write("pwned"))
attempt("read via /proc/self/root", lambda: open("/proc/self/root" + args["secret"]).read())
attempt("read via /proc/1/root", lambda: open("/proc/1/root" + args["secret"]).read())
attempt("read host passwd", lambda: [l for l in open("/etc/passwd") if l.startswith("root:")][0])
attempt("list host root", lambda: [n for n in os.listdir("/") if n in args["host_only"]] or 1 / 0)
attempt("signal host process", lambda: os.kill(args["host_pid"], 0))
attempt("see host processes", lambda: [p for p in os.listdir("/proc") if p == str(args["host_pid"])] or 1 / 0)
attempt("tcp to host loopback", lambda: connect(socket.AF_INET, ("127.0.0.1", args["tcp_port"])))
attempt("abstract unix socket", lambda: connect(socket.AF_UNIX, "\0" + args["abstract"]))
attempt("unix socket outside", lambda: connect(socket.AF_UNIX, args["unix_path"]))
attempt("internet", lambda: connect(socket.AF_INET, ("1.1.1.1", 53)))
attempt("set the clock", lambda: time.clock_settime(time.CLOCK_REALTIME, time.time()))
attempt("chmod host /dev/null", lambda: os.chmod("/dev/null", 0o666))
attempt("mknod a disk", lambda: os.mknod(args["ws"] + "/sda", 0o600 | 0o060000, os.makedev(8, 0)))
attempt("open a host disk", lambda: open("/dev/sda", "rb").read(1))
attempt("read kernel memory", lambda: open("/proc/kcore", "rb").read(1))
attempt("mount tmpfs", lambda: check(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
attempt("new user namespace", lambda: check(libc.unshare(0x10000000)))
attempt("become uid 0", lambda: os.setuid(0))
attempt("sethostname", lambda: check(libc.sethostname(b"pwned", 5)))
attempt("write /usr", lambda: open("/usr/lanekit-pwned", "w").write("x"))
attempt("write /", lambda: open("/lanekit-pwned", "w").write("x"))
attempt("write /etc/passwd", lambda: open("/etc/passwd", "a").write("x"))
attempt("write /dev", lambda: open("/dev/lanekit-pwned", "w").write("x"))
attempt("write a sysctl", lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
attempt("see /sys", lambda: os.listdir("/sys"))
attempt("hard link outside in", lambda: os.link(args["secret"], args["ws"] + "/h"))
status = open("/proc/self/status").read()
out["caps"] = [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0]
out["no_new_privs"] = [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")][0]
open(args["ws"] + "/tmp-written", "w").write(repr(open("/tmp/x", "w").write("private")))
print(json.dumps(out))
'''


def hostile(jail, ws: Path, python_ro, code: str, *args: str, limits: Limits | None = None, timeout_s: float = 20):
    return jail.run([sys.executable, "-I", "-S", "-c", code, *args], cwd=ws, ro=python_ro, rw=[ws],
                    env={"PATH": "/usr/bin:/bin", "HOME": str(ws)}, timeout_s=timeout_s,
                    limits=limits or Limits(cpu_s=20))


@pytest.fixture
def ws(jail):
    w = Workspace.create({"a.txt": "a\n"})
    jail.adopt(w.root)
    yield w.root
    w.cleanup()


@pytest.fixture
def listeners(tmp_path):
    """A TCP listener on the host's loopback, an abstract and a path unix socket: none may hear anything."""
    tcp = socket.create_server(("127.0.0.1", 0))
    abstract = f"lanekit-test-{os.getpid()}-{time.monotonic_ns()}"
    ab = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ab.bind("\0" + abstract)
    ab.listen()
    path = tmp_path / "host.sock"
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ux.bind(str(path))
    ux.listen()
    os.chmod(path, 0o777)
    socks = (tcp, ab, ux)
    for s in socks:
        s.settimeout(0.2)
    yield {"tcp_port": tcp.getsockname()[1], "abstract": abstract, "unix_path": str(path)}, socks
    for s in socks:
        s.close()


def test_a_hostile_program_gets_out_no_way(jail, ws, outside, listeners, python_ro):
    addrs, socks = listeners
    host_only = [n for n in os.listdir("/") if n not in {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc",
                                                        "sbin", "tmp", "usr", "root", "run"}]
    args = {"secret": str(outside.secret), "outside": str(outside.root), "victim": str(outside.root / "victim.txt"),
            "canary": str(outside.root / "new-file"), "host_only": host_only, "host_pid": os.getpid(), "ws": str(ws), **addrs}
    res = hostile(jail, ws, python_ro, ATTEMPTS, json.dumps(args))
    assert res.returncode == 0, res.stderr.decode()
    got = json.loads(res.stdout)
    opened = {k: v for k, v in got.items() if isinstance(v, str) and v.startswith("OPEN")}
    assert opened == {}, opened
    assert got["caps"] == "0000000000000000" and got["no_new_privs"] == "1"
    assert outside.untouched() and not outside.leaked(res.stdout.decode())
    for s in socks:
        with pytest.raises(TimeoutError):
            s.accept()  # nothing reached the host's listeners
    assert (ws / "tmp-written").read_text() == "7"  # /tmp works inside ...
    assert not Path("/tmp/x").exists() or Path("/tmp/x").read_text() != "private"  # ... and is private
    assert not (ws / "sda").exists() and not (ws / "h").exists()


LIMITS_PROBE = r'''
import json, os, signal, sys, time
what = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
def fill(path, mib):
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(b"x" * (1 << 20))
try:
    if what == "nproc":
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(3)
                    os._exit(0)
                n += 1
        except OSError:
            pass
        print(n)
    elif what == "memory":
        bytearray(2 << 30)
        print("allocated")
    elif what == "fsize":
        fill("big", 80)
        print("written")
    elif what in ("/tmp", "/dev/shm"):
        fill(what + "/big", 80)
        print("written")
    elif what == "nofile":
        fds = [os.open("a.txt", os.O_RDONLY) for _ in range(1000)]
        print(len(fds))
    elif what == "cpu":
        while True:
            pass
except OSError as exc:
    print("refused", exc.errno)
except MemoryError:
    print("refused memory")
'''


@pytest.mark.parametrize("what, expect", [("nproc", lambda out: int(out) < 32), ("memory", "refused memory"),
                                          ("fsize", "refused 27"), ("/tmp", "refused 28"), ("/dev/shm", "refused 28"),
                                          ("nofile", "refused 24")])
def test_the_rlimits_and_tmpfs_sizes_hold(jail, ws, python_ro, what, expect):
    limits = Limits(cpu_s=20, address_space_bytes=1 << 30, file_size_bytes=64 << 20, processes=32, open_files=64,
                    tmp_bytes=16 << 20)
    res = hostile(jail, ws, python_ro, LIMITS_PROBE, what, limits=limits)
    out = res.stdout.decode().strip()
    assert (expect(out) if callable(expect) else out == expect), (out, res.stderr.decode()[-300:])


def test_cpu_time_is_capped_before_the_wall_clock(jail, ws, python_ro):
    t0 = time.monotonic()
    res = hostile(jail, ws, python_ro, LIMITS_PROBE, "cpu", limits=Limits(cpu_s=1), timeout_s=20)
    assert res.returncode not in (0, None) and time.monotonic() - t0 < 10  # killed by SIGXCPU, not by us


def test_only_the_lane_is_reachable_through_the_bridge(jail, ws, python_ro, listeners):
    addrs, socks = listeners
    lane = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve():
        conn, _ = lane.accept()
        seen.append(conn.recv(100))
        conn.sendall(b"lane says hi")
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    port = lane.getsockname()[1]
    code = textwrap.dedent(f"""
        import socket
        s = socket.create_connection(("127.0.0.1", {port}), timeout=5); s.sendall(b"GET /v1/models"); print(s.recv(100))
        try:
            socket.create_connection(("127.0.0.1", {addrs['tcp_port']}), timeout=2); print("OTHER PORT OPEN")
        except OSError as exc:
            print("other port blocked", exc.errno)
    """)
    with LaneBridge(f"http://127.0.0.1:{port}/v1", owner=jail.owner) as bridge:
        assert bridge.jail_url == f"http://127.0.0.1:{port}/v1"
        res = jail.run([sys.executable, "-I", "-S", "-c", code], cwd=ws, ro=python_ro, rw=[ws], timeout_s=20,
                       net=bridge.net(sys.executable), limits=Limits(cpu_s=20))
        assert bridge.connections == 1
    out = res.stdout.decode()
    assert "b'lane says hi'" in out and "other port blocked" in out, (out, res.stderr.decode())
    assert seen == [b"GET /v1/models"]
    with pytest.raises(TimeoutError):
        socks[0].accept()
    lane.close()


def test_the_bridge_rewrites_only_what_the_jail_cannot_serve():
    assert LaneBridge("http://127.0.0.1:8080/v1").jail_url == "http://127.0.0.1:8080/v1"
    assert LaneBridge("http://localhost:8080/v1").jail_url == "http://127.0.0.1:8080/v1"
    assert LaneBridge("http://10.0.0.5:8000/v1").target == ("10.0.0.5", 8000)
    assert LaneBridge("http://lane/v1").jail_url == "http://127.0.0.1:18080/v1"  # port 80 is privileged inside
    with pytest.raises(ValueError):
        LaneBridge("unix:///tmp/x")


def test_a_host_without_the_sandbox_refuses_shell_tasks_in_one_line(tmp_path):
    jail = Jail(bwrap=str(tmp_path / "no-bwrap"))
    assert not jail.available and "bubblewrap not found" in jail.unavailable_reason()
    ws = Workspace.create({"a.txt": "x"})
    try:
        with pytest.raises(SandboxUnavailable) as exc:
            ToolBox(ws, jail=jail)
    finally:
        ws.cleanup()
    assert "refuses to run shell-capable tasks unconfined" in exc.value.message and "\n" not in exc.value.message
    assert "apt-get install bubblewrap" in exc.value.fix


def test_run_task_refuses_before_any_request_and_leaves_no_workspace(tmp_path, monkeypatch):
    from lanekit.agents import tools

    monkeypatch.setattr(tools, "default_jail", lambda: Jail(bwrap=str(tmp_path / "no-bwrap")))
    before = set(Path("/tmp").glob("lanekit-task-*"))

    def no_requests(request):
        raise AssertionError("a request was sent")
    import httpx

    with pytest.raises(SandboxUnavailable):
        run_task(load_battery().tasks[0], base_url="http://lane/v1", model="m",
                 transport=httpx.MockTransport(no_requests))
    assert set(Path("/tmp").glob("lanekit-task-*")) == before


def test_hermes_is_refused_without_the_sandbox(tmp_path):
    from lanekit.agents.hermes import run_battery_hermes

    with pytest.raises(SandboxUnavailable, match="Hermes"):
        run_battery_hermes("http://lane/v1", "m", load_battery(), served_ctx=65536, hermes=tmp_path / "hermes",
                           run_dir=tmp_path / "r", jail=Jail(bwrap=str(tmp_path / "no-bwrap")))
    assert not (tmp_path / "r").exists()


def test_a_jail_never_runs_as_root():
    with pytest.raises(ValueError):
        Jail(uid=0)
