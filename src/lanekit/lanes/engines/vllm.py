"""vLLM as a bare process: `vllm serve MODEL …` or `python -m vllm.entrypoints.openai.api_server`.

`ctx` → `--max-model-len` (per sequence), `parallel` → `--max-num-seqs`. Tool calls need
`--enable-auto-tool-choice --tool-call-parser P` (without them a request with `tools` gets
HTTP 400); `--generation-config vllm` stops the checkpoint's generation_config from switching
Qwen3 into thinking mode, which hides tool calls inside `<think>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from lanekit.errors import ConfigError
from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import estimate_for, find_executable, json_arg
from lanekit.lanes.spec import LaneSpec, register_spec

VLLM_KV_DTYPES = {"f16": None, "auto": None, "bf16": None, "fp8": "fp8"}
API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"


class VllmOptions(LaneSpec):
    """vLLM server flags shared by the bare and the docker lane. None = vLLM's own default."""

    tool_call_parser: str | None = Field(default=None, description="hermes (Qwen), llama3_json, mistral, "
                                                                   "openai (gpt-oss), deepseek_v3, …")
    enable_auto_tool_choice: bool | None = Field(default=None, description="default: on when a parser is set")
    reasoning_parser: str | None = None
    generation_config: str | None = Field(default=None, description="'vllm' ignores the checkpoint's "
                                                                    "generation_config.json")
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    kv_cache_memory_bytes: int | None = Field(default=None, ge=1)
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    max_num_batched_tokens: int | None = Field(default=None, ge=1)
    attention_backend: str | None = Field(default=None, description="TRITON_ATTN on sm_121 (GB10)")
    quantization: str | None = None
    dtype: str | None = None
    load_format: str | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    enforce_eager: bool = False
    async_scheduling: bool = False
    trust_remote_code: bool = False
    chat_template: str | None = Field(default=None, description="file or shipped template name")
    hf_overrides: dict[str, Any] | None = Field(default=None, description="e.g. YaRN rope_scaling for >native ctx")
    speculative_config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _vllm_kv_dtype(self):
        if self.kv_dtype not in VLLM_KV_DTYPES:
            raise ValueError(f"kv_dtype {self.kv_dtype!r} is a llama.cpp cache type; vLLM takes "
                             f"{', '.join(VLLM_KV_DTYPES)}")
        return self


class VllmLaneSpec(VllmOptions):
    """A bare vLLM lane."""

    engine: Literal["vllm"] = "vllm"
    launcher: Literal["serve", "api_server"] = Field(
        default="serve", description="`vllm serve` or `python -m vllm.entrypoints.openai.api_server`")
    binary: str | None = Field(default=None, description="the `vllm` executable (launcher serve)")
    python: str | None = Field(default=None, description="python with vllm (launcher api_server); default: "
                                                         "lanekit's vLLM venv")


register_spec("vllm", VllmLaneSpec)


def server_flags(spec: VllmOptions, host: str, port: int) -> list[str]:
    """Every flag after the model, in one fixed order (tests compare whole command lines)."""
    args = ["--host", host, "--port", str(port), "--served-model-name", vllm_model_id(spec),
            "--max-model-len", str(spec.ctx), "--max-num-seqs", str(spec.parallel)]
    kv = VLLM_KV_DTYPES[spec.kv_dtype]
    if kv:
        args += ["--kv-cache-dtype", kv]
    if spec.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", f"{spec.gpu_memory_utilization:g}"]
    if spec.kv_cache_memory_bytes is not None:
        args += ["--kv-cache-memory-bytes", str(spec.kv_cache_memory_bytes)]
    if spec.tensor_parallel_size > 1:
        args += ["--tensor-parallel-size", str(spec.tensor_parallel_size)]
    for flag, value in (("--quantization", spec.quantization), ("--dtype", spec.dtype),
                        ("--load-format", spec.load_format), ("--attention-backend", spec.attention_backend),
                        ("--max-num-batched-tokens", spec.max_num_batched_tokens),
                        ("--generation-config", spec.generation_config)):
        if value is not None:
            args += [flag, str(value)]
    for flag, value in (("--enable-prefix-caching", spec.enable_prefix_caching),
                        ("--enable-chunked-prefill", spec.enable_chunked_prefill)):
        if value is not None:
            args.append(flag if value else flag.replace("--enable-", "--no-enable-"))
    if spec.tool_call_parser:
        if spec.enable_auto_tool_choice is not False:
            args.append("--enable-auto-tool-choice")
        args += ["--tool-call-parser", spec.tool_call_parser]
    elif spec.enable_auto_tool_choice:
        raise ConfigError(f"lane {spec.name}: enable_auto_tool_choice needs tool_call_parser",
                          fix="set tool_call_parser (hermes for Qwen; `lanekit recipe` picks it)")
    if spec.reasoning_parser:
        args += ["--reasoning-parser", spec.reasoning_parser]
    if spec.chat_template:
        args += ["--chat-template", str(chat_template_path(spec.chat_template))]
    if spec.hf_overrides:
        args += ["--hf-overrides", json_arg(spec.hf_overrides)]
    if spec.speculative_config:
        args += ["--speculative-config", json_arg(spec.speculative_config)]
    overrides: dict[str, float | int] = {}
    if spec.max_output_tokens:
        overrides["max_new_tokens"] = spec.max_output_tokens
    if spec.sampling:
        overrides.update(spec.sampling.hf_values())
    if overrides:
        args += ["--override-generation-config", json_arg(overrides)]
    if spec.enforce_eager:
        args.append("--enforce-eager")
    if spec.async_scheduling:
        args.append("--async-scheduling")
    if spec.trust_remote_code:
        args.append("--trust-remote-code")
    return args + list(spec.extra_args)


def chat_template_path(ref: str) -> Path | str:
    """A shipped template resolves to its file; anything else passes through unchanged."""
    from lanekit.lanes.engines.llamacpp import resolve_template

    try:
        return resolve_template(ref)
    except ConfigError:
        return ref  # a path inside a container, or a template string


def vllm_model_id(spec: LaneSpec) -> str:
    """The served model name: explicit, else the model reference as given."""
    return spec.served_name or spec.model


def default_python() -> str:
    """lanekit's vLLM venv python when it exists, else this interpreter."""
    import sys

    from lanekit.lanes.engines.vllm_venv import venv_python

    py = venv_python()
    return str(py) if py.is_file() else sys.executable


class VllmEngine(HttpEngine):
    """Engine implementation for a bare vLLM server."""

    name = "vllm"
    metrics_prefix = "vllm:"

    def binary(self, spec: VllmLaneSpec) -> str:
        from lanekit.lanes.engines.vllm_venv import INSTALL_HINT

        if spec.launcher == "api_server":
            return find_executable("python", spec.python or default_python(), INSTALL_HINT)
        return find_executable("vllm", spec.binary, "pip install vllm (GPU) or " + INSTALL_HINT)

    def argv(self, spec: VllmLaneSpec, port: int) -> list[str]:
        if spec.launcher == "api_server":
            head = [self.binary(spec), "-m", API_SERVER_MODULE, "--model", spec.model]
        else:
            head = [self.binary(spec), "serve", spec.model]
        return head + server_flags(spec, spec.host, port)

    def model_id(self, spec: LaneSpec) -> str:
        return vllm_model_id(spec)

    def memory_estimate(self, spec: VllmOptions):
        return vllm_memory_estimate(spec)


VLLM_DEFAULT_UTILIZATION = 0.9  # vLLM's --gpu-memory-utilization when unset, unified memory included
VLLM_CPU_DEFAULT_KV_GIB = 4  # vLLM-CPU's KV space when VLLM_CPU_KVCACHE_SPACE is unset


def vllm_memory_estimate(spec: VllmOptions):
    """What a vLLM lane takes: gpu_memory_utilization (0.9 when unset) x the device's whole memory.

    vLLM reserves that share at start and fills what the weights leave with KV blocks, which must
    hold one full-length request (`ctx` tokens), not ctx x max-num-seqs. `kv_cache_memory_bytes`
    fixes the KV pool instead; vLLM-CPU sizes it from VLLM_CPU_KVCACHE_SPACE (GiB). Raises
    LaneWontFit when vLLM would refuse to start.
    """
    from lanekit.errors import LaneWontFit
    from lanekit.lanes.guard import memory_pool

    pool = memory_pool()
    kv_pool = spec.kv_cache_memory_bytes
    if kv_pool is None and pool.device == "system memory":  # no GPU: vLLM-CPU
        kv_pool = int(float(spec.env.get("VLLM_CPU_KVCACHE_SPACE") or VLLM_CPU_DEFAULT_KV_GIB) * (1 << 30))
    util = spec.gpu_memory_utilization
    est = estimate_for(spec, "vllm", gpu_memory_utilization=None if kv_pool else util or VLLM_DEFAULT_UTILIZATION,
                       pool_bytes=pool.total_bytes, utilization_assumed=util is None, kv_pool_bytes=kv_pool)
    if est.problems:
        raise LaneWontFit(f"lane {spec.name!r}: {est.problems[0]}",
                          fix="raise gpu_memory_utilization, lower ctx, or use kv_dtype: fp8", estimate=est)
    return est


register_engine(VllmEngine())
