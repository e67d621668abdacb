"""The jail: bubblewrap namespaces + rlimits around a command that runs what a model wrote.

What a jailed command sees: `/usr` (and the /bin, /lib links) read-only, a synthetic /etc
(passwd, group, hosts; the loader cache and timezone read-only), its own /proc (new pid
namespace), a minimal /dev, size-capped tmpfs /tmp and /dev/shm, the paths the caller names
(`ro`, `rw`) at their own locations, and nothing else: the root and /dev are remounted
read-only. It has no network (new net namespace: loopback only; see bridge.py for the one lane
port Hermes gets), no capabilities, no further user namespaces (bwrap >= 0.8), and runs as a
non-root uid under `prlimit` limits on CPU time, address space, file size, processes and open
files; the caller's wall-clock limit kills the whole group.

A jail never runs as uid 0: a root-owned process, even without capabilities, owns the host's
device nodes (measured: it could chmod the host's /dev/null). When lanekit runs as root, a
first, privileged bwrap stages the caller's paths on a private tmpfs and drops to uid 65534;
a second, unprivileged bwrap builds the jail from there. Run as a normal user, one bwrap does
it all. Processes are counted per jail either way: the limit is set inside the jail's own user
namespace, where the kernel counts only that jail's processes.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lanekit.agents.jail.process import RunResult, run_capped
from lanekit.errors import HarnessError

JAIL_UID_FOR_ROOT = 65534  # nobody: what the jail runs as when lanekit itself runs as root
STAGE = "/tmp/lanekit-stage"  # on the privileged stage's private tmpfs, never on the host
FORWARD_PATH = "/run/lanekit/forward.py"
NET_DIR = "/run/lanekit/net"
_SYSTEM_DIRS = ("usr",)
_SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
_INSTALL_FIX = ("install bubblewrap (apt-get install bubblewrap) and allow user namespaces (user.max_user_namespaces > 0; "
                "Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0 or a bwrap AppArmor profile)")


class SandboxUnavailable(HarnessError):
    """This host cannot confine what a model writes, so lanekit refuses to run it."""


@dataclass(frozen=True)
class Limits:
    """Per-jail resource limits (processes per jail; the others per process)."""

    cpu_s: int = 11
    address_space_bytes: int = 1 << 30
    file_size_bytes: int = 64 << 20
    processes: int = 64
    open_files: int = 256
    tmp_bytes: int = 64 << 20

    def prlimit_args(self) -> list[str]:
        pairs = {"cpu": self.cpu_s, "as": self.address_space_bytes, "fsize": self.file_size_bytes,
                 "nproc": self.processes, "nofile": self.open_files, "core": 0}
        return [f"--{name}={value}:{value}" for name, value in pairs.items()]


SHELL_LIMITS = Limits()


@dataclass(frozen=True)
class Net:
    """The only network a jail may have: 127.0.0.1:`port` inside, spliced to a unix socket in
    the host directory `sock_dir` by `python` running forward.py in front of the command."""

    sock_dir: Path
    port: int
    python: str


def _memfd(name: str, content: bytes) -> int:
    fd = os.memfd_create(name, 0)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.lru_cache(maxsize=8)
def _bwrap_version(bwrap: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([bwrap, "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(g) for g in match.groups()) if match else ()


def _forward_script() -> bytes:
    return (Path(__file__).with_name("forward.py")).read_bytes()


def _collapse(paths: Sequence[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Drop paths already inside a mount of the same mode, or inside /usr; parents first."""
    out: list[tuple[Path, str]] = []
    for path, mode in sorted({(Path(os.path.abspath(p)), m) for p, m in paths}, key=lambda pm: len(pm[0].parts)):
        if path.parts[1:2] and path.parts[1] in _SYSTEM_DIRS:
            continue
        if any(mode == m and (path == p or p in path.parents) for p, m in out):
            continue
        out.append((path, mode))
    return out


class Jail:
    """Runs commands confined as described in the module docstring. `available` probes once.

    `uid`/`gid`: whom the jail runs as when lanekit runs as root (default 65534); a regular
    user's jail always runs as that user (an unprivileged bwrap can map no one else)."""

    def __init__(self, bwrap: str | None = None, *, uid: int | None = None, gid: int | None = None) -> None:
        self.bwrap = bwrap or os.environ.get("LANEKIT_BWRAP") or shutil.which("bwrap") or "bwrap"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.uid = JAIL_UID_FOR_ROOT if uid is None else uid
            self.gid = JAIL_UID_FOR_ROOT if gid is None else gid
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
        if self.uid == 0:
            raise ValueError("a jail never runs as uid 0")
        self._reason: str | None | bool = False  # False: not probed yet

    # -- availability -------------------------------------------------------------------------
    @property
    def owner(self) -> tuple[int, int] | None:
        """(uid, gid) that files the jail must write are given, or None when it is lanekit's own."""
        return (self.uid, self.gid) if self.as_root else None

    def unavailable_reason(self) -> str | None:
        """None when jailed commands run here, else why not (probed once, about 10 ms)."""
        if self._reason is False:
            self._reason = self._probe()
        return self._reason  # type: ignore[return-value]

    @property
    def available(self) -> bool:
        return self.unavailable_reason() is None

    def require(self, what: str) -> None:
        """SandboxUnavailable (one line + the fix) unless jailed commands run here."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(f"this host cannot sandbox {what} ({reason}): lanekit refuses to run "
                                     "shell-capable tasks unconfined", fix=_INSTALL_FIX)

    def _probe(self) -> str | None:
        if not Path(self.bwrap).is_file() and shutil.which(self.bwrap) is None:
            return f"bubblewrap not found at {self.bwrap!r}"
        if not _bwrap_version(self.bwrap):
            return f"{self.bwrap} --version did not answer"
        for tool in ("prlimit",) + (("setpriv",) if self.as_root else ()):
            if not Path("/usr/bin", tool).is_file():
                return f"/usr/bin/{tool} (util-linux) is missing"
        with tempfile.TemporaryDirectory(prefix="lanekit-jail-probe-") as tmp:
            self.adopt(Path(tmp))
            try:
                res = self.run(["/usr/bin/true"], cwd=Path(tmp), rw=[Path(tmp)], timeout_s=20)
            except OSError as exc:
                return f"bwrap could not start: {exc}"
        if res.returncode != 0:
            detail = res.stderr.decode(errors="replace").strip().splitlines()
            return f"bwrap failed: {detail[-1] if detail else f'exit {res.returncode}'}"
        return None

    def adopt(self, path: Path) -> None:
        """Give `path` (a directory lanekit created for the jail to write) to the jail's uid."""
        if self.owner is None:
            return
        os.chown(path, *self.owner, follow_symlinks=False)
        for _, dirnames, filenames, dirfd in os.fwalk(path, follow_symlinks=False):
            for name in dirnames + filenames:
                os.chown(name, *self.owner, dir_fd=dirfd, follow_symlinks=False)

    def _check_readable(self, paths: Sequence[Path]) -> None:
        """As root the jail runs as another uid, which must be able to read what it is given."""
        for path in paths:
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # bwrap reports a missing source itself
            need = 0o005 if stat.S_ISDIR(mode) else 0o004
            if mode & need != need:
                raise SandboxUnavailable(f"the jail (uid {self.uid}) cannot read {path}",
                                         fix=f"chmod o+rX {path}, or run lanekit as a regular user")

    # -- command line -------------------------------------------------------------------------
    def argv(self, command: Sequence[str], *, cwd: Path, ro: Sequence[Path] = (), rw: Sequence[Path] = (),
             env: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None,
             limits: Limits = SHELL_LIMITS, net: Net | None = None) -> tuple[list[str], list[int]]:
        """The bwrap command line for `command`, and the fds it reads (the caller closes them).

        `files` are read-only files made from bytes (e.g. a config the jail must not rewrite)."""
        env = dict(env or {})
        fds: list[int] = []

        def data(name: str, content: bytes) -> str:
            fds.append(_memfd(name, content))
            return str(fds[-1])

        user = _collapse([(p, "ro") for p in ro] + [(p, "rw") for p in rw]
                         + ([(net.sock_dir, "rw")] if net else []))
        if self.as_root:
            self._check_readable([p for p, mode in user if mode == "ro"])
        home = env.get("HOME", str(cwd))
        version = _bwrap_version(self.bwrap)
        inner = [self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                 "--cap-drop", "ALL", "--hostname", "lanekit-jail", "--clearenv"]
        if version >= (0, 8, 0):
            inner.append("--disable-userns")
        for key, value in env.items():
            inner += ["--setenv", key, value]
        inner += ["--ro-bind", "/usr", "/usr"]
        for name in _SYSTEM_LINKS:
            host = Path("/", name)
            if host.is_symlink():
                inner += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                inner += ["--ro-bind", str(host), str(host)]
        for path in _SYSTEM_FILES:
            inner += ["--ro-bind-try", path, path]
        sized = version >= (0, 7, 0)
        inner += ["--proc", "/proc", "--dev", "/dev"]
        for mount in ("/tmp", "/dev/shm"):
            inner += (["--size", str(limits.tmp_bytes)] if sized else []) + ["--perms", "1777", "--tmpfs", mount]
        inner += ["--perms", "0755", "--dir", "/etc",
                  "--ro-bind-data", data("passwd", f"lanekit:x:{self.uid}:{self.gid}:lanekit jail:{home}:/bin/sh\n"
                                         .encode()), "/etc/passwd",
                  "--ro-bind-data", data("group", f"lanekit:x:{self.gid}:\n".encode()), "/etc/group",
                  "--ro-bind-data", data("hosts", b"127.0.0.1 localhost\n::1 localhost\n"), "/etc/hosts"]
        for i, (path, mode) in enumerate(user):
            source = f"{STAGE}/{i}" if self.as_root else str(path)
            dest = NET_DIR if net and path == Path(os.path.abspath(net.sock_dir)) else str(path)
            inner += ["--ro-bind" if mode == "ro" else "--bind", source, dest]
        for dest, content in (files or {}).items():
            inner += ["--ro-bind-data", data("file", content), dest]
        if net:
            inner += ["--ro-bind-data", data("forward", _forward_script()), FORWARD_PATH]
        # nothing else is writable: the root and /dev tmpfs would hold gigabytes in memory otherwise
        inner += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(cwd), "--",
                  "/usr/bin/prlimit", *limits.prlimit_args(), "--"]
        if net:
            inner += [net.python, "-I", "-S", FORWARD_PATH, "127.0.0.1", str(net.port), f"{NET_DIR}/lane.sock", "--"]
        inner += list(command)
        if not self.as_root:
            return inner, fds
        outer = [self.bwrap, "--dev-bind", "/", "/", "--tmpfs", "/tmp", "--perms", "0755", "--dir", STAGE]
        for i, (path, mode) in enumerate(user):
            outer += ["--ro-bind" if mode == "ro" else "--bind", str(path), f"{STAGE}/{i}"]
        outer += ["--die-with-parent", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                  "--cap-add", "CAP_SETPCAP", "--", "/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                  "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
        return outer + inner, fds

    def run(self, command: Sequence[str], *, cwd: Path, timeout_s: float, ro: Sequence[Path] = (),
            rw: Sequence[Path] = (), env: Mapping[str, str] | None = None, files: Mapping[str, bytes] | None = None,
            limits: Limits = SHELL_LIMITS, net: Net | None = None, stdout_cap: int = 64 * 1024,
            stderr_cap: int = 16 * 1024) -> RunResult:
        """Run `command` in the jail for at most `timeout_s` seconds of wall time."""
        argv, fds = self.argv(command, cwd=cwd, ro=ro, rw=rw, env=env, files=files, limits=limits, net=net)
        try:
            # from "/": the stage's PWD would otherwise show lanekit's own directory in /proc/1/environ
            return run_capped(argv, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout_s=timeout_s,
                              stdout_cap=stdout_cap, stderr_cap=stderr_cap, pass_fds=fds, cwd="/")
        finally:
            for fd in fds:
                os.close(fd)


@functools.lru_cache(maxsize=1)
def default_jail() -> Jail:
    """The process-wide jail (bwrap from PATH or LANEKIT_BWRAP), probed on first use."""
    return Jail()
