"""Resolve a recipe: engine defaults → hardware → model family → derived sizing → overrides.

`apply_recipe()` returns the validated LaneSpec the bakeoff and profile launch scripts use;
`resolve_recipe()` also returns the exact command, the notes and where each value came from.
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lanekit.lanes.recipes import data, sizing
from lanekit.lanes.spec import LaneSpec, parse_lane

SCHEMA_VERSION = 1
DEFAULT_PORTS = {"llamacpp": 8080, "ollama": 11434}
# HF config model_type → the GGUF architecture name llama.cpp's converter writes (for --override-kv
# <arch>.context_length on a GGUF named by repo, before it is on disk)
GGUF_ARCH = {"qwen3_moe": "qwen3moe", "qwen3": "qwen3", "qwen2": "qwen2", "llama": "llama", "gpt_oss": "gpt-oss"}


class Recipe(BaseModel):
    """One resolved recipe: the spec, the command that starts it, and why each value is there."""

    schema_version: int = SCHEMA_VERSION
    model: str
    engine: str
    hw: str
    harness: str | None
    family: str | None
    spec: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    command: str
    pre_start: list[str] = Field(default_factory=list, description="steps before the command (files it reads)")
    post_start: list[str] = Field(default_factory=list, description="steps after the server is healthy")
    stop: list[str] | None = None
    health_url: str
    metrics_url: str | None
    served_ctx: int
    sizing: dict[str, Any] | None = None
    layers: list[str] = Field(default_factory=list, description="recipe layers applied, in order")
    notes: list[str] = Field(default_factory=list)


def lane_name(model_ref: str, engine: str) -> str:
    """A valid default lane name from the model's basename and the engine."""
    base = Path(model_ref.rstrip("/")).name.removesuffix(".gguf").lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", base).strip("-._") or "lane"
    return f"{slug}-{engine}"[:80]


def _layers(model_ref: str, engine: str, hw: data.Hardware, family: data.Family | None):
    """(merged fields, layer names) before sizing and overrides."""
    fields: dict[str, Any] = {}
    names = []
    for label, block in (("engines.yaml", data.engine_defaults()), (f"hardware:{hw.id}", hw.engines),
                         (f"family:{family.id}" if family else "", family.engines if family else {})):
        for layer in data.engine_layers(block, engine):
            fields = data.merge(fields, layer)
            names.append(label)
    return fields, list(dict.fromkeys(n for n in names if n))


def _long_context(engine: str, family: data.Family | None, ctx: int, native: int | None,
                  notes: list[str], gguf_arch: str | None = None) -> dict[str, Any]:
    """Rope-scaling fields when the served context exceeds the model's native window."""
    if not native or ctx <= native:
        return {}
    lc = family.long_context if family else None
    if not lc:
        notes.append(f"ctx {ctx:,} exceeds the model's native {native:,} tokens and the family has no "
                     "documented rope scaling: expect the engine to refuse or quality to drop")
        return {}
    orig = int(lc.get("original_max_position_embeddings", native))
    factor = float(math.ceil(ctx / orig))
    rope = {"rope_type": lc.get("rope_type", "yarn"), "factor": factor, "original_max_position_embeddings": orig}
    notes.append(f"ctx {ctx:,} > native {native:,}: {rope['rope_type']} rope scaling x{factor:g} "
                 f"from {orig:,} (the model card's long-context recipe)")
    if engine in ("vllm", "vllm-docker"):
        return {"hf_overrides": {"rope_scaling": rope}}
    if engine == "llamacpp":
        # llama-server caps every slot at the GGUF's training context whatever -c says; raising
        # <arch>.context_length lifts the cap (measured: /props n_ctx 8,192 → 16,384).
        args = ["--rope-scaling", "yarn", "--rope-scale", f"{factor:g}", "--yarn-orig-ctx", str(orig)]
        if gguf_arch:
            args += ["--override-kv", f"{gguf_arch}.context_length=int:{ctx}"]
        else:
            notes.append(f"llama-server caps each slot at the GGUF's training context: add --override-kv "
                         f"<arch>.context_length=int:{ctx}")
        return {"extra_args": args}
    if engine == "sglang":
        from lanekit.lanes.engines._common import json_arg

        return {"extra_args": ["--json-model-override-args", json_arg({"rope_scaling": rope})]}
    notes.append(f"{engine}: set rope scaling by hand for ctx > {native:,}")
    return {}


def resolve_recipe(model_ref: str, engine: str, hw: str = "spark", *, harness: str | None = "hermes",
                   **overrides: Any) -> Recipe:
    """Everything `lanekit recipe` prints: spec, command, sizing and notes (see module doc)."""
    from lanekit.lanes.engine import get_engine

    eng = get_engine(engine)  # ConfigError for an unknown engine
    profile = data.get_hardware(hw)
    family = data.find_family(model_ref)
    fields, layers = _layers(model_ref, engine, profile, family)
    notes = [n for n in profile.notes if _note_applies(n, engine)] + (list(family.notes) if family else [])
    model_ref = engine_model_ref(model_ref, engine, notes)
    floor = data.harness_min_ctx().get(harness) if harness else None
    if harness and floor is None:
        from lanekit.errors import ConfigError

        raise ConfigError(f"--harness: unknown harness {harness!r}",
                          fix=f"use one of: {', '.join(data.harness_min_ctx())} (or none)")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    ctx = int(overrides.get("ctx") or fields.get("ctx") or floor or 4096)
    if floor and ctx < floor:
        notes.append(f"ctx {ctx:,} is below the {harness} floor of {floor:,}: the harness will refuse this lane")
    parallel = int(overrides.get("parallel") or fields.get("parallel") or 1)
    fields.update(ctx=ctx, parallel=parallel)
    if engine == "llamacpp" and parallel > 1:
        notes.append(f"llama.cpp splits -c across slots: -c {ctx * parallel:,} = {ctx:,} per slot x {parallel}")
    kv = overrides.get("kv_dtype") or fields.get("kv_dtype") or "f16"
    derived = sizing.derive(engine, profile, model_ref, ctx=ctx, parallel=parallel, kv_dtype=kv,
                            set_fields=set(overrides) | set(overrides.get("env", {})))
    fields = data.merge(fields, derived.fields)
    notes += derived.notes
    if derived.fields:
        layers.append("sizing")
    native = (family.native_ctx if family and family.native_ctx else None) or derived.native_ctx
    gguf_arch = None
    if engine in ("llamacpp", "ollama"):
        shape = sizing.find_shape(model_ref)
        native = native or (shape.context_length if shape else None)
        gguf_arch = (shape.arch if shape.source == "gguf" else GGUF_ARCH.get(shape.arch)) if shape is not None else None
    fields = data.merge(fields, _long_context(engine, family, ctx, native, notes, gguf_arch))
    if family and not family.tools:
        notes.append(f"{family.id}: no tool-call support — not usable for an agent harness")
    elif family is None:
        notes.append("unknown model family: no tool-call parser chosen; set tool_call_parser by hand")
    fields = data.merge({"name": lane_name(model_ref, engine), "engine": engine, "model": model_ref, **fields},
                        overrides)
    if overrides:
        layers.append("overrides")
    spec = parse_lane(fields, where="recipe")
    return _render(spec, eng, profile, harness, family, derived, layers, notes)


def _note_applies(note: str, engine: str) -> bool:
    """Hardware notes that name vLLM's or Marlin's behaviour concern the vLLM-family engines only."""
    if engine in ("vllm", "vllm-docker", "sglang", "nim", "trtllm"):
        return True
    return not any(word in note for word in ("vLLM", "Marlin", "NVFP4"))


def engine_model_ref(model_ref: str, engine: str, notes: list[str]) -> str:
    """The model reference `engine` can load: llama.cpp and Ollama need a GGUF (or an Ollama tag), so a
    catalog checkpoint id becomes its known GGUF repo (`REPO:QUANT`) or Ollama library tag."""
    if engine not in ("llamacpp", "ollama") or _is_loadable_gguf(model_ref):
        return model_ref
    from lanekit.lanes.downloads import gguf_download, ollama_tag

    if engine == "ollama":
        if (tag := ollama_tag(model_ref)) is not None:
            notes.append(f"Ollama serves {model_ref} as its library tag {tag}")
            return tag
        if _gguf_repo(model_ref):
            return "hf.co/" + model_ref.removeprefix("hf.co/")
        return model_ref  # a library tag, validated by the Ollama spec
    if _gguf_repo(model_ref):
        return model_ref
    dl = gguf_download(model_ref)
    if dl is None:
        from lanekit.errors import ModelError

        raise ModelError(f"llama.cpp needs a GGUF and lanekit knows none for {model_ref!r}",
                         fix="pass a .gguf path, a GGUF repo (ORG/NAME-GGUF:QUANT), or a model in the Hugging Face "
                             "cache; `lanekit init` lists what is on disk")
    notes.append(f"llama.cpp needs a GGUF: {model_ref} → {dl.ref}; {dl.line()} (or let llama-server fetch it "
                 "with -hf, as below)")
    return dl.ref


def _is_loadable_gguf(ref: str) -> bool:
    from lanekit.lanes.embedded import EMBEDDED

    if ref in EMBEDDED or ref.lower().endswith(".gguf") or Path(ref).expanduser().is_file():
        return True
    from lanekit.errors import ModelError
    from lanekit.lanes.hf_cache import resolve_gguf

    try:
        return resolve_gguf(ref) is not None
    except ModelError:  # several GGUFs in the cached repo: the lane will name them
        return True


def _gguf_repo(ref: str) -> bool:
    """`ORG/NAME-GGUF[:QUANT]` (or hf.co/…): a Hugging Face repo of GGUF files."""
    repo = ref.removeprefix("hf.co/").partition(":")[0]
    return repo.count("/") == 1 and "gguf" in repo.lower()


def _render(spec: LaneSpec, eng, profile, harness, family, derived, layers, notes) -> Recipe:
    from lanekit.lanes.engines._common import display_only, shell_line

    port = spec.port or DEFAULT_PORTS.get(spec.engine, 8000)
    shown = _display_engine(eng)
    with display_only():
        argv = shown.argv(spec, port)
        env = shown.env(spec)
        pre = _pre_start(spec)
        if spec.engine == "llamacpp" and "-m" in argv and not _is_loadable_gguf(spec.model):
            at = argv.index("-m")
            argv[at:at + 2] = ["-hf", spec.model.removeprefix("hf.co/")]  # llama-server downloads it
        post = []
        if hasattr(shown, "prepare_steps"):
            for step in shown.prepare_steps(spec, port):
                post.append(shell_line(step.argv, step.env) if step.argv else
                            f"curl -s {step.http_post[0]} -d '{_json(step.http_post[1])}'")
    return Recipe(
        model=spec.model, engine=spec.engine, hw=profile.id, harness=harness, family=family.id if family else None,
        spec=spec.model_dump(mode="json", exclude_defaults=True) | {"engine": spec.engine},
        argv=argv, env=env, command=shell_line(argv, env), pre_start=pre, post_start=post, stop=eng.stop_argv(spec),
        health_url=eng.health_url(spec, port), metrics_url=eng.metrics_url(spec, port),
        served_ctx=eng.served_ctx(spec), sizing=derived.model_dump(exclude={"notes", "fields"}) | {
            "fields": derived.fields}, layers=layers, notes=list(dict.fromkeys(notes)))


def _pre_start(spec: LaneSpec) -> list[str]:
    """Shell steps that create what the command reads (TensorRT-LLM's options file)."""
    if spec.engine != "trtllm":
        return []
    import yaml

    from lanekit.lanes.engines.trtllm import llm_api_options, options_file

    path = options_file(spec)
    text = yaml.safe_dump(llm_api_options(spec), sort_keys=True).rstrip("\n")
    return [f"mkdir -p {shlex.quote(str(path.parent))} && cat > {shlex.quote(str(path))} <<'EOF'\n{text}\nEOF"]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _display_engine(eng):
    """llama.cpp needs a real binary and GGUF for argv; for printing, fall back to their names."""
    if eng.name != "llamacpp":
        return eng
    from lanekit.errors import EngineNotFound, ModelError
    from lanekit.lanes.engines.llamacpp import LlamaCppEngine

    class _Printable(LlamaCppEngine):
        def binary(self, spec):
            try:
                return super().binary(spec)
            except EngineNotFound:
                return "llama-server"

        def model_file(self, spec):
            try:
                return super().model_file(spec)
            except ModelError:
                return Path(spec.model)

    return _Printable()


def apply_recipe(model_ref: str, engine: str, hw: str = "spark", *, harness: str | None = "hermes",
                 **overrides: Any) -> LaneSpec:
    """The validated LaneSpec for `model_ref` on `engine` × `hw`; keyword overrides win.

    Example: `apply_recipe("Qwen/Qwen3-30B-A3B-FP8", "vllm", "spark", name="moe", port=8000)`.
    """
    recipe = resolve_recipe(model_ref, engine, hw, harness=harness, **overrides)
    return parse_lane(recipe.spec, where="recipe")
