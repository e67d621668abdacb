"""vLLM in a container: `docker run --gpus all --ipc host --shm-size … IMAGE vllm serve MODEL …`.

Same server flags as the bare lane (`vllm.server_flags`); the spec's `env` becomes the
container's `-e` variables (e.g. `VLLM_NVFP4_GEMM_BACKEND=marlin` on a GB10). Teardown runs
`docker stop`, because killing the docker client leaves the container holding its memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import (
    DockerLaneSpec,
    docker_run_argv,
    docker_stop_argv,
    find_docker,
)
from lanekit.lanes.engines.vllm import VllmOptions, server_flags, vllm_memory_estimate, vllm_model_id
from lanekit.lanes.spec import LaneSpec, register_spec

DEFAULT_IMAGE = "vllm/vllm-openai:latest"
MODELS_MOUNT = "/models"


class VllmDockerLaneSpec(VllmOptions, DockerLaneSpec):
    """A containerised vLLM lane."""

    engine: Literal["vllm-docker"] = "vllm-docker"
    image: str = DEFAULT_IMAGE
    serve_command: list[str] = Field(default_factory=lambda: ["vllm", "serve"],
                                     description="what precedes the model; [] for images whose "
                                                 "entrypoint already is `vllm serve` (vllm/vllm-openai)")


register_spec("vllm-docker", VllmDockerLaneSpec)


def container_model(spec: LaneSpec) -> tuple[str, list[str]]:
    """(model argument inside the container, mounts): local folders/files are mounted read-only."""
    path = Path(spec.model).expanduser()
    if path.exists():
        inside = f"{MODELS_MOUNT}/{path.name}"
        return inside, [f"{path.resolve()}:{inside}:ro"]
    return spec.model, []


class VllmDockerEngine(HttpEngine):
    """Engine implementation for vLLM under docker."""

    name = "vllm-docker"
    metrics_prefix = "vllm:"

    def binary(self, spec: VllmDockerLaneSpec) -> str:
        return find_docker(spec.docker_binary)

    def argv(self, spec: VllmDockerLaneSpec, port: int) -> list[str]:
        model, mounts = container_model(spec)
        inner_host = "0.0.0.0" if not spec.network_host else spec.host
        command = [*spec.serve_command, model, *server_flags(spec, inner_host, port)]
        return docker_run_argv(spec, port, container_port=port, env=dict(spec.env), command=command,
                               mounts=mounts)

    def env(self, spec: LaneSpec) -> dict[str, str]:
        return {}  # the container's variables travel as `-e` flags in argv

    def model_id(self, spec: LaneSpec) -> str:
        return vllm_model_id(spec)

    def stop_argv(self, spec: VllmDockerLaneSpec) -> list[str] | None:
        return docker_stop_argv(spec)

    def memory_estimate(self, spec: VllmDockerLaneSpec):
        return vllm_memory_estimate(spec)


register_engine(VllmDockerEngine())
