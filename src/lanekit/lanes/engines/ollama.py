"""Ollama: a daemon (`ollama serve`) configured by OLLAMA_* variables, plus a model step.

The context cannot be set through the OpenAI API, so `ctx` goes in `OLLAMA_CONTEXT_LENGTH`
(Ollama's default is 4K–256K depending on VRAM; Hermes needs ≥ 65,536). `parallel` →
`OLLAMA_NUM_PARALLEL` (Ollama allocates ctx × parallel). Once the daemon answers, the model
must exist: `prepare_steps()` returns `ollama pull TAG` for a registry tag, or
`ollama create NAME -f Modelfile` for a local GGUF, then a load request that pins it in memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.engines._common import find_executable
from lanekit.lanes.spec import LaneSpec, register_spec

OLLAMA_KV = {"f16": "f16", "auto": None, "bf16": "f16", "fp8": "q8_0", "q8_0": "q8_0", "q4_0": "q4_0"}
INSTALL_HINT = "install Ollama (https://ollama.com/download) or set `binary:`"
# What `ollama pull` takes: [host/][namespace/]name[:tag], lower case (hf.co/ORG/REPO:QUANT keeps its case).
OLLAMA_NAME = re.compile(r"^(hf\.co/[\w.-]+/[\w.-]+(:[\w.-]+)?|([a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*(:[\w.-]+)?)$")


class OllamaLaneSpec(LaneSpec):
    """An Ollama lane: `model` is a registry tag (qwen3:30b-a3b) or a local .gguf path."""

    engine: Literal["ollama"] = "ollama"
    binary: str | None = None
    keep_alive: str = Field(default="-1", description="OLLAMA_KEEP_ALIVE; -1 keeps the model loaded")
    flash_attention: bool | None = Field(default=None, description="default: on when the KV cache is quantized")
    models_dir: str | None = Field(default=None, description="OLLAMA_MODELS")
    gpu_overhead_bytes: int | None = Field(default=None, ge=0, description="OLLAMA_GPU_OVERHEAD")
    modelfile_extra: list[str] = Field(default_factory=list,
                                       description="extra Modelfile lines for a GGUF (TEMPLATE, PARAMETER …)")

    @model_validator(mode="after")
    def _ollama_kv_dtype(self):
        if self.kv_dtype not in OLLAMA_KV:
            raise ValueError(f"kv_dtype {self.kv_dtype!r}: Ollama takes {', '.join(OLLAMA_KV)}")
        if local_gguf_path(self.model) is None and not OLLAMA_NAME.match(self.model):
            raise ValueError(f"model {self.model!r} is not an Ollama model name: use a library tag "
                             "(qwen3:30b-a3b), hf.co/ORG/REPO-GGUF:QUANT, or a .gguf file "
                             "(`lanekit recipe MODEL --engine ollama` converts catalog ids)")
        return self


register_spec("ollama", OllamaLaneSpec)


class PrepareStep(BaseModel):
    """One command to run after the daemon is healthy and before the lane counts as ready."""

    argv: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="path → content to write first")
    http_post: tuple[str, dict] | None = None
    why: str


def local_gguf_path(ref: str) -> Path | None:
    """The GGUF file a reference names on this box (a path, or a GGUF in the Hugging Face cache)."""
    if ref.startswith("hf.co/"):
        return None  # Ollama pulls these itself
    path = Path(ref).expanduser()
    if ref.endswith(".gguf") or path.is_file():
        return path.resolve()
    from lanekit.errors import ModelError
    from lanekit.lanes.hf_cache import resolve_gguf

    try:
        return resolve_gguf(ref)
    except ModelError:
        return None


def is_local_gguf(ref: str) -> bool:
    """True when the model reference is a GGUF file here (it needs `ollama create`)."""
    return local_gguf_path(ref) is not None


def modelfile(spec: OllamaLaneSpec) -> str:
    """A Modelfile for a local GGUF that also pins the context (belt and braces with the env)."""
    path = local_gguf_path(spec.model) or Path(spec.model).expanduser().resolve()
    sampling = [f"PARAMETER {k} {v:g}" for k, v in (spec.sampling.values() if spec.sampling else {}).items()]
    return "\n".join([f"FROM {path}", f"PARAMETER num_ctx {spec.ctx}", *sampling, *spec.modelfile_extra]) + "\n"


class OllamaEngine(HttpEngine):
    """Engine implementation for the Ollama daemon."""

    name = "ollama"
    health_path = "/api/version"
    metrics_path = None
    metrics_prefix = ""  # Ollama has no Prometheus endpoint

    def binary(self, spec: OllamaLaneSpec) -> str:
        return find_executable("ollama", spec.binary, INSTALL_HINT)

    def argv(self, spec: OllamaLaneSpec, port: int) -> list[str]:
        # The daemon's settings depend on the port (OLLAMA_HOST), which `env()` never sees, so
        # they travel through `env` on the command line: visible in `up --dry-run` too.
        assignments = [f"{k}={v}" for k, v in self.daemon_env(spec, port).items()]
        return ["env", *assignments, self.binary(spec), "serve", *spec.extra_args]

    def daemon_env(self, spec: OllamaLaneSpec, port: int) -> dict[str, str]:
        """OLLAMA_* variables for the daemon (OLLAMA_HOST carries the lane's port)."""
        env = {"OLLAMA_HOST": f"{spec.host}:{port}", "OLLAMA_CONTEXT_LENGTH": str(spec.ctx),
               "OLLAMA_NUM_PARALLEL": str(spec.parallel), "OLLAMA_KEEP_ALIVE": spec.keep_alive,
               "OLLAMA_MAX_LOADED_MODELS": "1"}
        kv = OLLAMA_KV[spec.kv_dtype]
        if kv:
            env["OLLAMA_KV_CACHE_TYPE"] = kv
        flash = spec.flash_attention if spec.flash_attention is not None else kv not in (None, "f16")
        if flash:
            env["OLLAMA_FLASH_ATTENTION"] = "1"
        if spec.models_dir:
            env["OLLAMA_MODELS"] = str(Path(spec.models_dir).expanduser())
        if spec.gpu_overhead_bytes is not None:
            env["OLLAMA_GPU_OVERHEAD"] = str(spec.gpu_overhead_bytes)
        return env

    def prepare_steps(self, spec: OllamaLaneSpec, port: int) -> list[PrepareStep]:
        """Pull/create the model, then load it with keep_alive so the first request is warm."""
        client_env = {"OLLAMA_HOST": f"{spec.host}:{port}"}
        name = self.model_id(spec)
        steps = []
        if is_local_gguf(spec.model):
            from lanekit.dirs import home

            mf = str(home() / "ollama" / f"{spec.name}.Modelfile")
            steps.append(PrepareStep(argv=[self.binary(spec), "create", name, "-f", mf], env=client_env,
                                     files={mf: modelfile(spec)}, why="register the local GGUF with Ollama"))
        else:
            steps.append(PrepareStep(argv=[self.binary(spec), "pull", name], env=client_env,
                                     why="download the model into OLLAMA_MODELS"))
        steps.append(PrepareStep(http_post=(f"http://{spec.host}:{port}/api/generate",
                                            {"model": name, "keep_alive": spec.keep_alive}),
                                 why="load the model now, not on the first request"))
        return steps

    def prepare(self, spec: OllamaLaneSpec, port: int) -> None:
        """The Engine seam's post-health step: pull/create and load the model (LaneStartError on failure)."""
        run_prepare_steps(self.prepare_steps(spec, port))

    def model_id(self, spec: LaneSpec) -> str:
        if spec.served_name:
            return spec.served_name
        if (local := local_gguf_path(spec.model)) is not None:
            return f"lanekit-{local.stem.lower()}"
        return spec.model

    def stop_argv(self, spec: LaneSpec) -> list[str] | None:
        return None  # the runner is a child of the daemon: killing the process group frees it

    def memory_estimate(self, spec: OllamaLaneSpec):
        from lanekit.lanes.engines._common import estimate_for

        return estimate_for(spec, "ollama")


def run_prepare_steps(steps: list[PrepareStep], timeout_s: float = 3600) -> None:
    """Execute `prepare_steps()` in order; raises LaneStartError with the command's output."""
    import os
    import subprocess

    import httpx

    from lanekit.errors import LaneStartError

    for step in steps:
        for path, content in step.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(content)
        if step.argv:
            done = subprocess.run(step.argv, env={**os.environ, **step.env}, capture_output=True, text=True, check=False,
                                  timeout=timeout_s)
            if done.returncode != 0:
                raise LaneStartError(f"ollama step failed ({step.why}): {' '.join(step.argv)}",
                                     fix="check the model tag / GGUF path", log_tail=(done.stdout + done.stderr)[-2000:])
        if step.http_post:
            url, body = step.http_post
            resp = httpx.post(url, json=body, timeout=timeout_s)
            if resp.status_code != 200:
                raise LaneStartError(f"ollama could not load the model: HTTP {resp.status_code}",
                                     fix="see `lanekit logs`", log_tail=resp.text[-2000:])


register_engine(OllamaEngine())
