"""Shared pieces of the non-llama.cpp engines: docker fields and argv, binary lookup, sizing.

Not an engine itself (the leading underscore keeps `engines/__init__` from registering it).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, model_validator

from lanekit.errors import EngineNotFound, ModelError
from lanekit.lanes.spec import LaneSpec

if TYPE_CHECKING:
    from lanekit.catalog.memory import MemoryEstimate
    from lanekit.catalog.shapes import ModelShape

HF_CACHE_HOST = "~/.cache/huggingface"
_DISPLAY_ONLY = contextvars.ContextVar("lanekit_display_only", default=False)
HF_CACHE_CONTAINER = "/root/.cache/huggingface"


class DockerLaneSpec(LaneSpec):
    """Fields every containerised lane shares (`docker run` flags)."""

    image: str = Field(min_length=1, description="container image")
    container_name: str | None = Field(default=None, description="default: lanekit-<lane name>")
    gpus: str | None = Field(default="all", description="`--gpus` value; None for CPU images")
    ipc_host: bool = Field(default=True, description="`--ipc host`: engines share tensors via /dev/shm")
    shm_size: str | None = Field(default="16g", description="`--shm-size`; on unified memory it "
                                                           "competes with the model for the same pool")
    network_host: bool = Field(default=False, description="`--network host` instead of `-p port:port`")
    hf_cache: str | None = Field(default=HF_CACHE_HOST, description="host HF cache mounted into the container")
    volumes: list[str] = Field(default_factory=list, description="extra `-v host:container` mounts")
    pass_env: list[str] = Field(default_factory=lambda: ["HF_TOKEN"],
                                description="host variables forwarded by name (values stay out of argv)")
    docker_args: list[str] = Field(default_factory=list, description="extra `docker run` flags")
    docker_binary: str = "docker"
    # engines whose server takes no default sampling name themselves here; `sampling:` is refused
    no_server_sampling: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _refuse_sampling(self):
        if self.no_server_sampling and self.sampling is not None:
            raise ValueError(f"sampling: {self.no_server_sampling} lanes take no server-side default sampling "
                             "here; set it in the agent's requests instead (remove `sampling:`)")
        return self


def container_name(spec: DockerLaneSpec) -> str:
    """The container's name: explicit, else `lanekit-<lane>` (what `stop_argv` stops)."""
    return spec.container_name or f"lanekit-{spec.name}"


def docker_run_argv(spec: DockerLaneSpec, port: int, *, container_port: int, env: dict[str, str],
                    command: list[str], mounts: list[str] | None = None) -> list[str]:
    """`docker run --rm --name … IMAGE COMMAND…` with GPU, IPC, shm, port, cache and env flags.

    `env` goes in as `-e K=V` (the container's environment, not the client's); `pass_env`
    names are forwarded as bare `-e NAME` so secrets never appear on the command line.
    """
    argv = [spec.docker_binary, "run", "--rm", "--name", container_name(spec)]
    if spec.gpus:
        argv += ["--gpus", spec.gpus]
    if spec.ipc_host:
        argv += ["--ipc", "host"]
    if spec.shm_size:
        argv += ["--shm-size", spec.shm_size]
    if spec.network_host:
        argv += ["--network", "host"]
    else:
        argv += ["-p", f"{spec.host}:{port}:{container_port}"]
    if spec.hf_cache:
        argv += ["-v", f"{os.path.expanduser(spec.hf_cache)}:{HF_CACHE_CONTAINER}"]
    for vol in [*(mounts or []), *spec.volumes]:
        argv += ["-v", os.path.expanduser(vol) if vol.startswith("~") else vol]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    for key in spec.pass_env:
        argv += ["-e", key]
    return argv + list(spec.docker_args) + [spec.image, *command]


def docker_stop_argv(spec: DockerLaneSpec) -> list[str]:
    """Stop (and, with `--rm`, remove) the container; killing the docker client does not."""
    return [spec.docker_binary, "stop", "-t", str(max(1, int(spec.stop_grace_s))), container_name(spec)]


@contextlib.contextmanager
def display_only() -> Iterator[None]:
    """Inside this block a missing executable renders as its bare name instead of raising.

    `lanekit recipe` prints Spark commands on a laptop; `Lane.check()` still calls `binary()`
    outside the block, so a real launch refuses a missing engine as before.
    """
    token = _DISPLAY_ONLY.set(True)
    try:
        yield
    finally:
        _DISPLAY_ONLY.reset(token)


def find_docker(binary: str = "docker") -> str:
    """Absolute path of the docker CLI, or EngineNotFound with the install hint."""
    found = shutil.which(binary)
    if not found and _DISPLAY_ONLY.get():
        return binary
    if not found:
        raise EngineNotFound(f"{binary} CLI not found on PATH",
                             fix="install Docker Engine + the NVIDIA Container Toolkit "
                                 "(`lanekit recipe ... --json` still prints the command)")
    return found


def find_executable(name: str, explicit: str | None, hint: str) -> str:
    """An explicit path, else `name` on PATH, else EngineNotFound(fix=hint)."""
    if _DISPLAY_ONLY.get():
        if explicit:
            return explicit
        return shutil.which(name) or name
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return str(Path(explicit).absolute())  # not resolve(): a venv python is a symlink
        raise EngineNotFound(f"{explicit} does not exist or is not executable", fix=hint)
    found = shutil.which(name)
    if found:
        return found
    raise EngineNotFound(f"{name} is not installed", fix=hint)


def resolve_shape(model_ref: str) -> ModelShape | None:
    """The catalog's shape for a model (file, HF folder, catalog id), None when unknown."""
    try:
        from lanekit.catalog import resolve_model
        from lanekit.lanes.embedded import EMBEDDED, resolve_model_file
        from lanekit.lanes.hf_cache import resolve_gguf, snapshot

        if model_ref in EMBEDDED:
            model_ref = str(resolve_model_file(model_ref))
        elif not Path(model_ref).expanduser().exists():
            # a model in the Hugging Face cache: its GGUF, else its checkpoint's config.json
            cached = resolve_gguf(model_ref) or snapshot(model_ref.partition(":")[0])
            if cached is not None and (cached.is_file() or (cached / "config.json").is_file()):
                try:
                    return resolve_model(str(cached))
                except (ModelError, ValueError, KeyError):
                    pass  # an unreadable cached config: the catalog entry of the id may still size it
        return resolve_model(model_ref)
    except (ImportError, ModelError, ValueError, OSError):
        return None


def estimate_for(spec: LaneSpec, engine: str, *, gpu_memory_utilization: float | None = None,
                 pool_bytes: int | None = None, quant: str | None = None, utilization_assumed: bool = False,
                 kv_pool_bytes: int | None = None) -> MemoryEstimate:
    """Catalog estimate for a per-sequence-context engine (ctx = max-model-len, parallel = seqs).

    Unknown models raise ModelError: the guard must not wave through a lane it cannot size.
    """
    from lanekit.catalog.memory import estimate_memory

    shape = resolve_shape(spec.model)
    if shape is None:
        raise ModelError(f"cannot size model {spec.model!r}: not a file, HF folder or catalog id",
                         fix="pass a local HF folder / GGUF, or a model id `lanekit fit --catalog` lists; "
                             "set headroom_bytes to 0 and check memory by hand if you must")
    kv = spec.kv_dtype if spec.kv_dtype in ("f16", "bf16", "fp8", "auto") else "f16"
    return estimate_memory(shape, ctx=spec.ctx, parallel=spec.parallel, kv_dtype=kv, engine=engine,
                           quant=quant, headroom_bytes=spec.headroom_bytes,
                           gpu_memory_utilization=gpu_memory_utilization, pool_bytes=pool_bytes,
                           utilization_assumed=utilization_assumed, kv_pool_bytes=kv_pool_bytes)


def json_arg(value: object) -> str:
    """Compact JSON for flags like `--hf-overrides` (stable key order, no spaces)."""
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def shell_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    """`K=V … cmd args` as one copy-pasteable shell line."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return f"{prefix} {shlex.join(argv)}".strip()
