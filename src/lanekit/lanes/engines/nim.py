"""NVIDIA NIM for LLMs: a container that ships model, tokenizer, chat template and tool config.

Configured through `NIM_*` variables (`NIM_MAX_MODEL_LEN`, `NIM_SERVED_MODEL_NAME`,
`NIM_SERVER_PORT`, `NIM_MODEL_PROFILE`, `NIM_PASSTHROUGH_ARGS`, …); `NGC_API_KEY` is forwarded
by name. Health is `/v1/health/ready`, Prometheus metrics are at `/v1/metrics` (not /metrics).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from lanekit.errors import ModelError
from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import (
    DockerLaneSpec,
    docker_run_argv,
    docker_stop_argv,
    estimate_for,
    find_docker,
)
from lanekit.lanes.spec import LaneSpec, register_spec

NIM_PORT = 8000
NIM_CACHE_CONTAINER = "/opt/nim/.cache"


def default_image(model: str) -> str:
    """NGC's naming of a NIM container: nvcr.io/nim/<org>/<model>:latest, lower case."""
    org, _, name = model.strip().lower().rpartition("/")
    return f"nvcr.io/nim/{org or 'nvidia'}/{name}:latest"


class NimLaneSpec(DockerLaneSpec):
    """A NIM lane: `model` is the id the NIM serves (e.g. nvidia/nvidia-nemotron-nano-9b-v2);
    `image` defaults to that model's NIM container (nvcr.io/nim/<org>/<model>:latest)."""

    engine: Literal["nim"] = "nim"

    @model_validator(mode="before")
    @classmethod
    def _image_from_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("image") and isinstance(data.get("model"), str) and data["model"]:
            data = {**data, "image": default_image(data["model"])}
        return data

    no_server_sampling: ClassVar[str | None] = "NIM"
    nim_cache: str = Field(default="~/.cache/nim", description="host cache for downloaded profiles")
    hf_cache: str | None = None
    pass_env: list[str] = Field(default_factory=lambda: ["NGC_API_KEY"])
    model_profile: str | None = Field(default=None, description="NIM_MODEL_PROFILE (id or name)")
    enable_kv_cache_reuse: bool | None = Field(default=True, description="NIM_ENABLE_KV_CACHE_REUSE (prefix cache)")
    kvcache_percent: float | None = Field(default=None, gt=0, le=1, description="NIM_KVCACHE_PERCENT")
    tool_call_parser: str | None = Field(default=None, description="NIM_TOOL_CALL_PARSER (most NIMs "
                                                                   "ship the right one)")
    enable_auto_tool_choice: bool | None = None
    disable_cuda_graph: bool = False
    passthrough_args: list[str] = Field(default_factory=list, description="NIM_PASSTHROUGH_ARGS for the "
                                                                           "backend engine")


register_spec("nim", NimLaneSpec)


def nim_env(spec: NimLaneSpec, server_port: int = NIM_PORT) -> dict[str, str]:
    """The container's NIM_* variables, then the spec's own `env` (which wins)."""
    env = {"NIM_SERVER_PORT": str(server_port), "NIM_MAX_MODEL_LEN": str(spec.ctx)}
    env["NIM_SERVED_MODEL_NAME"] = spec.served_name or spec.model  # what clients send as `model`
    if spec.model_profile:
        env["NIM_MODEL_PROFILE"] = spec.model_profile
    if spec.enable_kv_cache_reuse is not None:
        env["NIM_ENABLE_KV_CACHE_REUSE"] = "1" if spec.enable_kv_cache_reuse else "0"
    if spec.kvcache_percent is not None:
        env["NIM_KVCACHE_PERCENT"] = f"{spec.kvcache_percent:g}"
    if spec.tool_call_parser:
        env["NIM_TOOL_CALL_PARSER"] = spec.tool_call_parser
        if spec.enable_auto_tool_choice is not False:
            env["NIM_ENABLE_AUTO_TOOL_CHOICE"] = "1"
    if spec.disable_cuda_graph:
        env["NIM_DISABLE_CUDA_GRAPH"] = "1"
    passthrough = list(spec.passthrough_args)
    if spec.parallel > 1 and not any(a.startswith("--max-num-seqs") for a in passthrough):
        passthrough += ["--max-num-seqs", str(spec.parallel)]
    if passthrough:
        import shlex

        env["NIM_PASSTHROUGH_ARGS"] = shlex.join(passthrough)
    return {**env, **spec.env}


class NimEngine(HttpEngine):
    """Engine implementation for a NIM container."""

    name = "nim"
    health_path = "/v1/health/ready"
    metrics_path = "/v1/metrics"
    metrics_prefix = ""  # NIM exposes vLLM-style names without the `vllm:` prefix

    def binary(self, spec: NimLaneSpec) -> str:
        return find_docker(spec.docker_binary)

    def argv(self, spec: NimLaneSpec, port: int) -> list[str]:
        mounts = [f"{spec.nim_cache}:{NIM_CACHE_CONTAINER}"]
        inner_port = port if spec.network_host else NIM_PORT  # host networking: NIM listens on the lane port
        return docker_run_argv(spec, port, container_port=inner_port, env=nim_env(spec, inner_port),
                               command=list(spec.extra_args), mounts=mounts)

    def env(self, spec: LaneSpec) -> dict[str, str]:
        return {}

    def model_id(self, spec: LaneSpec) -> str:
        return spec.served_name or spec.model

    def stop_argv(self, spec: NimLaneSpec) -> list[str] | None:
        return docker_stop_argv(spec)

    def memory_estimate(self, spec: NimLaneSpec):
        try:
            return estimate_for(spec, "vllm")
        except ModelError:
            raise ModelError(f"cannot size NIM model {spec.model!r} (not in the catalog)",
                             fix="set served_name to the NIM id and model to a catalog id, or add it to "
                                 "the catalog") from None


register_engine(NimEngine())
