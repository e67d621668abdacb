"""TensorRT-LLM's `trtllm-serve MODEL …` (PyTorch backend), bare or in a container.

`ctx` → `--max_seq_len`, `parallel` → `--max_batch_size`. The KV dtype and block reuse
(prefix caching) only exist in the LLM-API options file, so `argv()` writes
`<lanekit home>/trtllm/<lane>.yml` and passes it with `--extra_llm_api_options`. On a GB10
only gpt-oss (MXFP4) was reported to work; keep `kv_cache_free_gpu_memory_fraction` low,
TRT-LLM's own overhead doubles on unified memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import (
    DockerLaneSpec,
    docker_run_argv,
    docker_stop_argv,
    estimate_for,
    find_docker,
    find_executable,
)
from lanekit.lanes.engines.vllm_docker import container_model
from lanekit.lanes.spec import LaneSpec, register_spec

TRTLLM_KV_DTYPES = {"f16": None, "auto": None, "bf16": None, "fp8": "fp8"}
CONFIG_IN_CONTAINER = "/lanekit/extra_llm_api_options.yml"


class TrtllmLaneSpec(DockerLaneSpec):
    """A trtllm-serve lane; `image` set runs it in that container."""

    engine: Literal["trtllm"] = "trtllm"
    no_server_sampling: ClassVar[str | None] = "TRT-LLM"
    image: str | None = None  # type: ignore[assignment]
    binary: str | None = None
    backend: Literal["pytorch", "tensorrt", "_autodeploy"] = "pytorch"
    tp_size: int = Field(default=1, ge=1)
    ep_size: int | None = Field(default=None, ge=1)
    max_num_tokens: int | None = Field(default=None, ge=1)
    kv_cache_free_gpu_memory_fraction: float | None = Field(default=None, gt=0, le=1)
    enable_block_reuse: bool = Field(default=True, description="KV block reuse = prefix caching")
    reasoning_parser: str | None = None
    tool_parser: str | None = Field(default=None, description="`--tool_parser` (recent trtllm-serve)")
    trust_remote_code: bool = False
    llm_api_options: dict[str, Any] = Field(default_factory=dict, description="merged into the options file")

    @model_validator(mode="after")
    def _trtllm_kv_dtype(self):
        if self.kv_dtype not in TRTLLM_KV_DTYPES:
            raise ValueError(f"kv_dtype {self.kv_dtype!r}: TensorRT-LLM takes {', '.join(TRTLLM_KV_DTYPES)}")
        return self


register_spec("trtllm", TrtllmLaneSpec)


def llm_api_options(spec: TrtllmLaneSpec) -> dict[str, Any]:
    """The `--extra_llm_api_options` document: KV cache config plus the spec's own keys."""
    kv: dict[str, Any] = {"enable_block_reuse": spec.enable_block_reuse}
    if TRTLLM_KV_DTYPES[spec.kv_dtype]:
        kv["dtype"] = TRTLLM_KV_DTYPES[spec.kv_dtype]
    if spec.kv_cache_free_gpu_memory_fraction is not None:
        kv["free_gpu_memory_fraction"] = spec.kv_cache_free_gpu_memory_fraction
    options = {"kv_cache_config": kv}
    for key, value in spec.llm_api_options.items():
        if isinstance(value, dict) and isinstance(options.get(key), dict):
            options[key] = {**options[key], **value}
        else:
            options[key] = value
    return options


def options_file(spec: TrtllmLaneSpec) -> Path:
    """Write the options YAML (same content → same file) and return its path."""
    import yaml

    from lanekit.dirs import home

    path = home() / "trtllm" / f"{spec.name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(llm_api_options(spec), sort_keys=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def trtllm_flags(spec: TrtllmLaneSpec, host: str, port: int, config: str) -> list[str]:
    """Flags after the model, fixed order."""
    args = ["--host", host, "--port", str(port), "--backend", spec.backend,
            "--max_batch_size", str(spec.parallel), "--max_seq_len", str(spec.ctx)]
    for flag, value in (("--max_num_tokens", spec.max_num_tokens),
                        ("--tp_size", spec.tp_size if spec.tp_size > 1 else None), ("--ep_size", spec.ep_size),
                        ("--kv_cache_free_gpu_memory_fraction", spec.kv_cache_free_gpu_memory_fraction),
                        ("--served_model_name", spec.served_name),
                        ("--reasoning_parser", spec.reasoning_parser), ("--tool_parser", spec.tool_parser)):
        if value is not None:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    args += ["--extra_llm_api_options", config]
    if spec.trust_remote_code:
        args.append("--trust_remote_code")
    return args + list(spec.extra_args)


class TrtllmEngine(HttpEngine):
    """Engine implementation for trtllm-serve."""

    name = "trtllm"
    metrics_path = "/prometheus/metrics"
    metrics_prefix = "trtllm_"

    def binary(self, spec: TrtllmLaneSpec) -> str:
        if spec.image:
            return find_docker(spec.docker_binary)
        return find_executable("trtllm-serve", spec.binary, "pip install tensorrt_llm, or set image: "
                                                            "nvcr.io/nvidia/tensorrt-llm/release:<tag>")

    def argv(self, spec: TrtllmLaneSpec, port: int) -> list[str]:
        config = options_file(spec)
        if spec.image:
            model, mounts = container_model(spec)
            inner = "0.0.0.0" if not spec.network_host else spec.host
            command = ["trtllm-serve", model, *trtllm_flags(spec, inner, port, CONFIG_IN_CONTAINER)]
            return docker_run_argv(spec, port, container_port=port, env=dict(spec.env), command=command,
                                   mounts=[*mounts, f"{config}:{CONFIG_IN_CONTAINER}:ro"])
        return [self.binary(spec), spec.model, *trtllm_flags(spec, spec.host, port, str(config))]

    def env(self, spec: TrtllmLaneSpec) -> dict[str, str]:
        return {} if spec.image else dict(spec.env)

    def model_id(self, spec: LaneSpec) -> str:
        return spec.served_name or spec.model

    def stop_argv(self, spec: TrtllmLaneSpec) -> list[str] | None:
        return docker_stop_argv(spec) if spec.image else None

    def memory_estimate(self, spec: TrtllmLaneSpec):
        return estimate_for(spec, "trtllm")


register_engine(TrtllmEngine())
