"""Does this llama.cpp build run on this host? A smoke decode, the diagnosis of a signal death,
and the per-host fix (recorded once, applied to every llama.cpp tool lanekit runs).

A `-march=native` build can execute instructions the CPU advertises but the host does not allow
(seen: AMX `tilezero` in libggml-cpu raising SIGILL at the first decode). The smoke decode finds
that before a bakeoff does; when the build runs with weight repacking off (`LLAMA_ARG_REPACK=0`,
llama-bench `--repack 0`), that becomes the recorded default for the binary on this host;
otherwise the fix is a portable rebuild (`portable_cmake_args`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import subprocess
import time
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, Field

from lanekit.dirs import home
from lanekit.lanes.exits import describe_signal, generic_exit_fix

SMOKE_PROMPT = "The capital of France is"
SMOKE_TOKENS = 8
SMOKE_TIMEOUT_S = 90.0
# Environment fixes tried, in order, after a signal death: each is cheaper than a rebuild.
FALLBACK_ENVS: tuple[dict[str, str], ...] = ({"LLAMA_ARG_REPACK": "0"},)
# Tools that do not read LLAMA_ARG_* from the environment take the same fix as flags.
TOOL_FLAGS = {"llama-bench": {"LLAMA_ARG_REPACK": ["--repack", "0"]}}


class HostCheck(BaseModel):
    """What the smoke decode found for one binary on this host."""

    binary: str
    binary_id: str
    cpu_id: str
    status: Literal["ok", "ok-with-env", "broken", "unverified"]
    env: dict[str, str] = Field(default_factory=dict, description="what every llama.cpp tool needs here")
    signal_name: str | None = None
    diagnosis: str = ""
    fix: str | None = None
    tokens: int | None = None
    seconds: float | None = None
    checked_at: float = 0.0

    def line(self) -> str:
        """The one line install.sh and `lanekit smoke` print."""
        name = Path(self.binary).name
        if self.status == "ok":
            return f"{name}: smoke decode ok ({self.tokens} tokens in {self.seconds:.1f} s)"
        if self.status == "ok-with-env":
            env = " ".join(f"{k}={v}" for k, v in self.env.items())
            return f"{self.diagnosis}; with {env} it runs: recorded as the default for every llama.cpp tool here"
        if self.status == "unverified":
            return f"{name}: not smoke-tested ({self.diagnosis})"
        return self.diagnosis


def signal_fix(returncode: int | None, engine: str = "llama-server") -> str | None:
    """What to do about a signal death, in one line (None when it was not one)."""
    if returncode is None or returncode >= 0:
        return None
    sig = -returncode
    if sig == signal.SIGILL:
        amx = " (the CPU advertises AMX)" if "amx_tile" in cpu_flags() else ""
        return (f"this {engine} build uses CPU instructions this host cannot execute{amx}: run `lanekit smoke` "
                "to find and record a working setting (it tries LLAMA_ARG_REPACK=0), or rebuild portable "
                "with `./install.sh --portable`")
    return generic_exit_fix(returncode) or (
        "read the log lines below; rebuild with `./install.sh --portable` if it is the build")


# -- identity ------------------------------------------------------------------------------
def cpu_flags() -> set[str]:
    """The first processor's feature flags from /proc/cpuinfo (empty where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    return set()


def cpu_id() -> str:
    """A short hash of the CPU model and its flags: a check is valid on this CPU only."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "CPU part")):
                model = line.split(":", 1)[1].strip()
                break
    return hashlib.sha256((model + " " + " ".join(sorted(cpu_flags()))).encode()).hexdigest()[:16]


def binary_id(binary: str | Path) -> str:
    """A short hash of one llama.cpp build: the ggml/llama libraries in the binary's folder (size and
    mtime), so llama-server, llama-bench and llama-perplexity of one build share one check; a binary
    without such libraries beside it (a static build, a wrapper) is hashed itself."""
    path = Path(binary).resolve()
    libs = [*path.parent.glob("libggml*"), *path.parent.glob("libllama*")]
    parts = []
    for f in sorted(libs or [path]):
        with contextlib.suppress(OSError):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _checks_path() -> Path:
    return home() / "host-llamacpp.json"


def _load_checks() -> dict[str, dict]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(_checks_path().read_text())
        if isinstance(data, dict):
            return data
    return {}


def _save_check(check: HostCheck) -> None:
    data = _load_checks()
    data[f"{check.binary_id}:{check.cpu_id}"] = check.model_dump()
    path = _checks_path()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def recorded_check(binary: str | Path) -> HostCheck | None:
    """The stored check of this binary on this CPU, if any."""
    entry = _load_checks().get(f"{binary_id(binary)}:{cpu_id()}")
    if entry is None:
        return None
    with contextlib.suppress(ValueError):
        return HostCheck.model_validate(entry)
    return None


def host_env(binary: str | Path) -> dict[str, str]:
    """Environment every llama.cpp tool from this build needs on this host ({} when none)."""
    check = recorded_check(binary)
    return dict(check.env) if check is not None else {}


def tool_args(tool: str, env: dict[str, str]) -> list[str]:
    """Flags carrying the host fix for tools that do not read LLAMA_ARG_* (llama-bench)."""
    flags = TOOL_FLAGS.get(Path(tool).name, {})
    out: list[str] = []
    for key in env:
        out += flags.get(key, [])
    return out


def find_tool(name: str, server_binary: str | None = None) -> str:
    """A llama.cpp tool (llama-bench, llama-perplexity, llama-quantize, rpc-server…) from the same
    build as llama-server: beside it, else on PATH."""
    import shutil

    from lanekit.errors import EngineNotFound
    from lanekit.lanes.engines.llamacpp import INSTALL_HINT, find_llama_server

    with contextlib.suppress(EngineNotFound):
        server = Path(server_binary or find_llama_server())
        cand = server.parent / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise EngineNotFound(f"{name} is not installed beside llama-server", fix=INSTALL_HINT)


def guarded(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The argv and full environment to run any llama.cpp tool of a build on this host: the build is
    smoke-checked first (once per build; EngineBroken if it dies here), then the host's fix is
    applied (LLAMA_ARG_REPACK=0 in the environment, `--repack 0` for llama-bench)."""
    from lanekit.errors import EngineBroken

    tool = Path(argv[0])
    check = recorded_check(tool)
    if check is None:
        server = tool.with_name("llama-server")
        if server.is_file() and os.access(server, os.X_OK):
            check = check_host(str(server))
    if check is not None and check.status == "broken":
        raise EngineBroken(check.diagnosis, fix=check.fix)
    env = dict(check.env) if check is not None else {}
    return [argv[0], *tool_args(argv[0], env), *argv[1:]], {**os.environ, **env}


def tool_failure(argv: list[str], returncode: int, output: str) -> str:
    """One line for a llama.cpp tool that failed: the signal by name (and why), or the exit code."""
    from lanekit.lanes.exits import describe_exit, last_error_line

    line = last_error_line(output)
    what = f"{Path(argv[0]).name} {describe_exit(returncode)}" + (f": {line}" if line else "")
    fix = signal_fix(returncode, Path(argv[0]).name)
    return what + (f" ({fix})" if fix else "")


def tool_command(name: str, args: list[str], server_binary: str | None = None) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment to run a llama.cpp tool with this host's fix applied."""
    tool = find_tool(name, server_binary)
    env = host_env(server_binary or tool)
    return [tool, *tool_args(tool, env), *args], env


# -- the smoke decode ----------------------------------------------------------------------
class SmokeOutcome(BaseModel):
    """One smoke decode: did it decode, and if not, how and when did it fail."""

    ok: bool
    phase: Literal["start", "loading", "decode"] = "start"
    returncode: int | None = None
    tokens: int | None = None
    seconds: float = 0.0
    error: str | None = None
    log_tail: str = ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smoke_decode(binary: str, model: Path, env: dict[str, str] | None = None,
                 timeout_s: float = SMOKE_TIMEOUT_S, threads: int | None = None) -> SmokeOutcome:
    """Start `binary` as a server on `model`, decode a few tokens, stop it. Never raises."""
    import tempfile

    from lanekit.lanes.lifecycle import tail

    port = _free_port()
    threads = threads or max(1, min(2, os.cpu_count() or 1))
    argv = [binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", "512", "-np", "1",
            "-t", str(threads), "-n", str(SMOKE_TOKENS)]
    t0 = time.monotonic()
    with tempfile.NamedTemporaryFile("w+b", prefix="lanekit-smoke-", suffix=".log", delete=False) as log:
        log_path = log.name
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        except OSError as exc:
            return SmokeOutcome(ok=False, error=f"cannot start {binary}: {exc}")
    try:
        outcome = _drive(proc, port, t0, timeout_s)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    outcome.log_tail = tail(log_path, 12)
    with contextlib.suppress(OSError):
        os.unlink(log_path)
    return outcome


def _drive(proc: subprocess.Popen, port: int, t0: float, timeout_s: float) -> SmokeOutcome:
    deadline = t0 + timeout_s
    url = f"http://127.0.0.1:{port}"

    def died(phase: str = "loading") -> SmokeOutcome | None:
        code = proc.poll()
        if code is None:
            return None
        return SmokeOutcome(ok=False, phase=phase, returncode=code, seconds=time.monotonic() - t0,
                            error=f"exited with {describe_signal(code) or f'code {code}'}")

    with httpx.Client(timeout=5.0) as http:
        while True:
            if (gone := died()) is not None:
                return gone
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url + "/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                return SmokeOutcome(ok=False, seconds=time.monotonic() - t0, error="never became healthy")
            time.sleep(0.1)
        try:
            resp = http.post(url + "/completion", json={"prompt": SMOKE_PROMPT, "n_predict": SMOKE_TOKENS,
                                                        "temperature": 0},
                             timeout=max(5.0, deadline - time.monotonic()))
        except httpx.HTTPError as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)  # a decode that kills the server drops the connection first
            return died("decode") or SmokeOutcome(ok=False, phase="decode", seconds=time.monotonic() - t0,
                                                  error=f"{type(exc).__name__}: {exc}")
    if resp.status_code != 200:
        return SmokeOutcome(ok=False, seconds=time.monotonic() - t0, error=f"HTTP {resp.status_code} on /completion")
    try:
        body = resp.json()
        tokens = int(body.get("tokens_predicted") or 0)
    except (ValueError, AttributeError, TypeError):
        return SmokeOutcome(ok=False, seconds=time.monotonic() - t0, error="/completion answered no JSON")
    return SmokeOutcome(ok=tokens > 0, tokens=tokens, seconds=time.monotonic() - t0,
                        error=None if tokens > 0 else "decoded no token")


def check_host(binary: str, model: Path | None = None, *, force: bool = False,
               timeout_s: float = SMOKE_TIMEOUT_S) -> HostCheck:
    """The recorded check for `binary` on this CPU, or a fresh smoke decode (with the fallbacks
    after a signal death), recorded. Only a signal death makes a binary `broken`: a server that
    merely does not answer like llama-server is `unverified` and left to the lane's own checks."""
    binary = str(Path(binary).resolve())
    if not force and (known := recorded_check(binary)) is not None:
        return known
    base = {"binary": binary, "binary_id": binary_id(binary), "cpu_id": cpu_id(), "checked_at": time.time()}
    if model is None:
        model = _smoke_model()
    if model is None:
        return HostCheck(**base, status="unverified", diagnosis="the embedded SmolLM2 model is not installed")
    first = smoke_decode(binary, model, timeout_s=timeout_s)
    if first.ok:
        check = HostCheck(**base, status="ok", tokens=first.tokens, seconds=first.seconds)
    elif first.returncode is not None and first.returncode < 0:
        check = _after_signal(base, binary, model, first, timeout_s)
    else:
        check = HostCheck(**base, status="unverified", diagnosis=first.error or "no answer")
    _save_check(check)
    return check


def _after_signal(base: dict, binary: str, model: Path, first: SmokeOutcome, timeout_s: float) -> HostCheck:
    name = Path(binary).name
    what = describe_signal(first.returncode)
    phase = "at the first decode" if first.phase == "decode" else "while loading"
    diagnosis = f"{name} died with {what} {phase}"
    if first.returncode == -signal.SIGILL:
        amx = "amx_tile" in cpu_flags()
        diagnosis += (" (the build uses CPU instructions this host does not execute"
                      + ("; the CPU advertises AMX" if amx else "") + ")")
    for env in FALLBACK_ENVS:
        retry = smoke_decode(binary, model, env=env, timeout_s=timeout_s)
        if retry.ok:
            return HostCheck(**base, status="ok-with-env", env=env, signal_name=what, diagnosis=diagnosis,
                             tokens=retry.tokens, seconds=retry.seconds)
    last = first.log_tail.strip().splitlines()[-1:] if first.log_tail.strip() else []
    return HostCheck(**base, status="broken", signal_name=what,
                     diagnosis=diagnosis + (f": {last[0]}" if last else ""),
                     fix="rebuild llama.cpp portable for this CPU: ./install.sh --portable")


def _smoke_model() -> Path | None:
    from lanekit.errors import LanekitError
    from lanekit.lanes.embedded import model_path

    try:
        return model_path("smollm2-135m")
    except (LanekitError, OSError):
        return None


def portable_cmake_args() -> list[str]:
    """CMake flags for a build that uses only what this CPU advertises, AMX off (x86-64)."""
    flags = cpu_flags()
    want = {"GGML_SSE42": "sse4_2", "GGML_AVX": "avx", "GGML_AVX2": "avx2", "GGML_BMI2": "bmi2",
            "GGML_FMA": "fma", "GGML_F16C": "f16c", "GGML_AVX_VNNI": "avx_vnni", "GGML_AVX512": "avx512f",
            "GGML_AVX512_VBMI": "avx512vbmi", "GGML_AVX512_VNNI": "avx512_vnni",
            "GGML_AVX512_BF16": "avx512_bf16"}
    args = ["-DGGML_NATIVE=OFF"]
    if platform.machine() not in ("x86_64", "AMD64", "i686"):
        return args  # other CPUs: the compiler's generic target for the architecture
    for option, flag in want.items():
        args.append(f"-D{option}={'ON' if flag in flags else 'OFF'}")
    args += ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
    return args
