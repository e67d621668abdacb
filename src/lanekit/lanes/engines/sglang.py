"""SGLang: `python -m sglang.launch_server --model-path MODEL …`, bare or in a container.

`ctx` → `--context-length`, `parallel` → `--max-running-requests`, metrics need
`--enable-metrics` (names start `sglang:`). Prefix caching (RadixAttention) is on unless
`--disable-radix-cache`. Tool calls: `--tool-call-parser qwen25|llama3|mistral|gpt-oss|…`.
On sm_121 SGLang needs CUDA ≥ 12.9 (the seeds' dead end): use an image built for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import (
    DockerLaneSpec,
    docker_run_argv,
    docker_stop_argv,
    estimate_for,
    find_docker,
    find_executable,
    json_arg,
)
from lanekit.lanes.engines.vllm_docker import container_model
from lanekit.lanes.spec import LaneSpec, register_spec

SGLANG_KV_DTYPES = {"f16": None, "auto": None, "bf16": None, "fp8": "fp8_e4m3"}
LAUNCH_MODULE = "sglang.launch_server"
SGLANG_ASSUMED_FRACTION = 0.9  # upper end of the mem_fraction_static SGLang derives when it is unset


class SglangLaneSpec(DockerLaneSpec):
    """An SGLang lane; `image` set runs it under docker, unset runs `python -m sglang.launch_server`."""

    engine: Literal["sglang"] = "sglang"
    image: str | None = None  # type: ignore[assignment]  (optional here, required for docker lanes)
    python: str | None = Field(default=None, description="python with sglang installed (bare lanes)")
    tool_call_parser: str | None = None
    reasoning_parser: str | None = None
    mem_fraction_static: float | None = Field(default=None, gt=0, le=1,
                                              description="share of the pool for weights + KV")
    disable_radix_cache: bool = False
    attention_backend: str | None = None
    quantization: str | None = None
    tp_size: int = Field(default=1, ge=1)
    chunked_prefill_size: int | None = None
    trust_remote_code: bool = False
    enable_metrics: bool = True
    chat_template: str | None = None

    @model_validator(mode="after")
    def _sglang_kv_dtype(self):
        if self.kv_dtype not in SGLANG_KV_DTYPES:
            raise ValueError(f"kv_dtype {self.kv_dtype!r} is a llama.cpp cache type; SGLang takes "
                             f"{', '.join(SGLANG_KV_DTYPES)}")
        return self


register_spec("sglang", SglangLaneSpec)


def sglang_flags(spec: SglangLaneSpec, host: str, port: int) -> list[str]:
    """Flags after `--model-path`, in a fixed order."""
    args = ["--host", host, "--port", str(port), "--served-model-name", spec.served_name or spec.model,
            "--context-length", str(spec.ctx), "--max-running-requests", str(spec.parallel)]
    kv = SGLANG_KV_DTYPES[spec.kv_dtype]
    if kv:
        args += ["--kv-cache-dtype", kv]
    if spec.mem_fraction_static is not None:
        args += ["--mem-fraction-static", f"{spec.mem_fraction_static:g}"]
    for flag, value in (("--tp-size", spec.tp_size if spec.tp_size > 1 else None),
                        ("--attention-backend", spec.attention_backend), ("--quantization", spec.quantization),
                        ("--chunked-prefill-size", spec.chunked_prefill_size),
                        ("--tool-call-parser", spec.tool_call_parser),
                        ("--reasoning-parser", spec.reasoning_parser), ("--chat-template", spec.chat_template)):
        if value is not None:
            args += [flag, str(value)]
    preferred: dict[str, float | int] = {}
    if spec.max_output_tokens:
        preferred["max_new_tokens"] = spec.max_output_tokens
    if spec.sampling:
        preferred.update(spec.sampling.hf_values())
    if preferred:
        args += ["--preferred-sampling-params", json_arg(preferred)]
    if spec.enable_metrics:
        args.append("--enable-metrics")
    if spec.disable_radix_cache:
        args.append("--disable-radix-cache")
    if spec.trust_remote_code:
        args.append("--trust-remote-code")
    return args + list(spec.extra_args)


class SglangEngine(HttpEngine):
    """Engine implementation for SGLang."""

    name = "sglang"
    metrics_prefix = "sglang:"

    def binary(self, spec: SglangLaneSpec) -> str:
        if spec.image:
            return find_docker(spec.docker_binary)
        return find_executable("python3", spec.python, "pip install 'sglang[all]' (CUDA ≥ 12.9 on sm_121)")

    def argv(self, spec: SglangLaneSpec, port: int) -> list[str]:
        if spec.image:
            model, mounts = container_model(spec)
            inner = "0.0.0.0" if not spec.network_host else spec.host
            command = ["python3", "-m", LAUNCH_MODULE, "--model-path", model, *sglang_flags(spec, inner, port)]
            return docker_run_argv(spec, port, container_port=port, env=dict(spec.env), command=command,
                                   mounts=mounts)
        return [self.binary(spec), "-m", LAUNCH_MODULE, "--model-path", spec.model,
                *sglang_flags(spec, spec.host, port)]

    def env(self, spec: SglangLaneSpec) -> dict[str, str]:
        return {} if spec.image else dict(spec.env)

    def metrics_url(self, spec: SglangLaneSpec, port: int) -> str | None:
        return f"http://{spec.host}:{port}/metrics" if spec.enable_metrics else None

    def model_id(self, spec: LaneSpec) -> str:
        return spec.served_name or spec.model

    def stop_argv(self, spec: SglangLaneSpec) -> list[str] | None:
        return docker_stop_argv(spec) if spec.image else None

    def memory_estimate(self, spec: SglangLaneSpec):
        """SGLang takes mem_fraction_static x the device's memory at start (assumed 0.9 when unset:
        SGLang derives it from the GPU's size, at most about that); its KV pool must hold one request."""
        from lanekit.errors import LaneWontFit
        from lanekit.lanes.guard import memory_pool

        frac = spec.mem_fraction_static
        est = estimate_for(spec, "sglang", gpu_memory_utilization=frac or SGLANG_ASSUMED_FRACTION,
                           pool_bytes=memory_pool().total_bytes, utilization_assumed=frac is None)
        if est.problems:
            raise LaneWontFit(f"lane {spec.name!r}: {est.problems[0]}",
                              fix="raise mem_fraction_static, lower ctx, or use kv_dtype: fp8", estimate=est)
        return est


register_engine(SglangEngine())
