"""Run one process group under a wall-clock limit, keeping only a capped amount of its output.

Output is read as it is produced (nothing waits for a stage to finish), stdout beyond its cap
stops the run at once (`seq 1 100000000` costs 64 KiB, not 900 MB), stderr beyond its cap is
read and dropped so the writer never blocks. At the limit, on overflow, or when the caller is
interrupted, the whole group is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

_READ_CHUNK = 65536
_KILL_GRACE_S = 5.0  # after SIGKILL, how long to wait for every holder of the pipes to be gone


@dataclass
class RunResult:
    """What a run left: exit status (None when killed at the time limit), capped output, time."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    wall_ns: int

    @property
    def timed_out(self) -> bool:
        return self.returncode is None and not self.stdout_truncated


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _drain(proc: subprocess.Popen) -> None:
    """Read the pipes to EOF (bounded): every process still holding them has then exited, so a
    killed jail is gone, not dying, when the run returns (its pid namespace dies after bwrap)."""
    end = time.monotonic() + _KILL_GRACE_S
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map() and time.monotonic() < end:
            for key, _ in sel.select(max(end - time.monotonic(), 0.0)):
                if not os.read(key.fd, _READ_CHUNK):
                    sel.unregister(key.fileobj)


def run_capped(argv: Sequence[str], *, env: dict[str, str], timeout_s: float, stdout_cap: int,
               stderr_cap: int, pass_fds: Sequence[int] = (), cwd: str | None = None) -> RunResult:
    """Run `argv` in its own session; see the module docstring for the limits."""
    t0 = time.monotonic_ns()
    deadline = time.monotonic() + max(0.0, timeout_s)
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, pass_fds=tuple(pass_fds), start_new_session=True)
    out, err = bytearray(), bytearray()
    truncated = timed_out = False
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, (out, stdout_cap))
            sel.register(proc.stderr, selectors.EVENT_READ, (err, stderr_cap))
            while sel.get_map() and not truncated:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, _READ_CHUNK)
                    buf, cap = key.data
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    room = cap - len(buf)
                    buf += chunk[:max(room, 0)]
                    if len(chunk) > room and buf is out:
                        truncated = True  # more output is of no use to anyone: stop the command now
                        break
        if truncated or timed_out:
            _kill_group(proc)
        remaining = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(remaining, 0.0) if not (truncated or timed_out) else None)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        if truncated or timed_out:
            _drain(proc)
    except BaseException:  # Ctrl-C or a bug here: never leave the group running
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    code = None if (timed_out or truncated) else proc.returncode
    return RunResult(code, bytes(out), bytes(err), truncated, time.monotonic_ns() - t0)
