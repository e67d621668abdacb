"""LaneSpec: one serving lane (engine + model + flags on a port), validated by pydantic.

A lane spec is discriminated by its `engine` field; each engine module registers its own
subclass with `register_spec`. `lanes.yaml` holds several lanes under `lanes:`; every
validation error names the field path (`lanes[1].ctx`) and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from lanekit.errors import ConfigError

KV_DTYPES = ("f16", "bf16", "f32", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "fp8", "auto")


class Sampling(BaseModel):
    """The lane's default sampling: what every request that sends none gets. Agent harnesses
    (Hermes included) send no sampling parameters, so this is what the agent runs with. Serve
    the model card's recommendation, so a benchmark sees what the agent will get."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0, le=1)
    repeat_penalty: float | None = Field(default=None, gt=0, le=5,
                                         description="llama.cpp --repeat-penalty / vLLM repetition_penalty")

    def values(self) -> dict[str, float | int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def hf_values(self) -> dict[str, float | int]:
        """The set values under HF generation_config names (vLLM, SGLang): `repetition_penalty`."""
        return {"repetition_penalty" if k == "repeat_penalty" else k: v for k, v in self.values().items()}


class LaneSpec(BaseModel):
    """Fields every engine understands. `ctx` is the context one request may use (per slot)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="lane name: letters, digits, '.', '_' or '-'")
    engine: str
    model: str = Field(min_length=1, description="model file path, catalog id, or embedded model id")
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535, description="None picks a free port at start")
    ctx: int = Field(default=4096, ge=256, description="context tokens one request may use")
    parallel: int = Field(default=1, ge=1, le=1024, description="concurrent slots / sequences")
    threads: int | None = Field(default=None, ge=1)
    kv_dtype: str = "f16"
    max_output_tokens: int | None = Field(default=None, ge=1, description="server-side output cap")
    served_name: str | None = Field(default=None, description="model id the server advertises")
    sampling: Sampling | None = Field(default=None, description="server-side default sampling (model card's)")
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    warm_timeout_s: float = Field(default=300.0, gt=0)
    stop_grace_s: float = Field(default=10.0, ge=0)
    headroom_bytes: int | None = Field(default=None, ge=0,
                                       description="memory to keep free; default max(2 GiB, 5% of pool)")
    synthetic: bool = Field(default=False, description="random-weight model: speed only, no reliability")

    def __new__(cls, *args: Any, **data: Any):
        # `LaneSpec(engine="llamacpp", ...)` builds the engine's own spec class, so engine fields work
        if cls is LaneSpec and isinstance(data.get("engine"), str):
            _adapter()
            sub = _SPEC_CLASSES.get(data["engine"])
            if sub is not None:
                return super().__new__(sub)
        return super().__new__(cls)

    @field_validator("kv_dtype")
    @classmethod
    def _known_kv_dtype(cls, value: str) -> str:
        if value not in KV_DTYPES:
            raise ValueError(f"unknown KV-cache dtype {value!r}; use one of {', '.join(KV_DTYPES)}")
        return value

    @field_validator("extra_args", mode="before")
    @classmethod
    def _split_string_args(cls, value: Any) -> Any:
        if isinstance(value, str):
            import shlex

            return shlex.split(value)
        return [str(v) for v in value] if isinstance(value, list) else value


_SPEC_CLASSES: dict[str, type[LaneSpec]] = {}


def register_spec(engine: str, cls: type[LaneSpec]) -> type[LaneSpec]:
    """Make `cls` the spec model for lanes whose `engine` is `engine`."""
    _SPEC_CLASSES[engine] = cls
    return cls


def _adapter() -> TypeAdapter:
    from lanekit.lanes import engines  # noqa: F401  (importing registers every engine)

    classes = tuple(_SPEC_CLASSES.values())
    if len(classes) == 1:
        return TypeAdapter(classes[0])
    return TypeAdapter(Annotated[Union[classes], Field(discriminator="engine")])  # type: ignore[valid-type]


def engine_names() -> list[str]:
    """Engines that have a registered spec."""
    _adapter()
    return sorted(_SPEC_CLASSES)


def _field_path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _SPEC_CLASSES:  # discriminator tag pydantic inserts into the location
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: `field.path: what is wrong`."""
    lines = []
    for err in exc.errors():
        path = _field_path(prefix, tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `lanekit up --help` lists the fields)"
        elif err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            msg = f"engine must be one of: {', '.join(sorted(_SPEC_CLASSES))}"
        lines.append(f"{path or '<root>'}: {msg}")
    return "; ".join(lines)


def parse_lane(data: dict[str, Any], *, where: str = "lane") -> LaneSpec:
    """Validate one lane mapping into the engine's spec class; ConfigError names the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of lane fields, got {type(data).__name__}",
                          fix="write the lane as `name: ..., engine: ..., model: ...`")
    data = {"engine": "llamacpp", **data}
    adapter = _adapter()
    if data["engine"] not in _SPEC_CLASSES:
        raise ConfigError(f"invalid lane: {where}.engine: engine must be one of: {', '.join(sorted(_SPEC_CLASSES))}",
                          fix="set `engine:` to a supported engine")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid lane: {format_validation_error(exc, where)}",
                          fix="correct the named field (see README 'lanes.yaml')") from None


def read_yaml(path: Path) -> Any:
    """A YAML file's document; ConfigError (naming the file and the place) for anything unreadable."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})",
                          fix="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})", fix="check the path and its permissions") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})", fix="fix the YAML syntax") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a plan", fix="check the file") from None


def load_lanes_file(path: str | Path) -> dict[str, LaneSpec]:
    """Read `lanes.yaml` (`lanes: [ {name, engine, model, ...}, ... ]`) into specs by name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"lanes file {path} not found", fix="create it or pass --lanes-file PATH")
    doc = read_yaml(path) or {}
    items = doc.get("lanes") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a top-level `lanes:` list", fix="put the lanes under `lanes:`")
    specs: dict[str, LaneSpec] = {}
    for i, item in enumerate(items):
        spec = parse_lane(item, where=f"lanes[{i}]")
        if spec.name in specs:
            raise ConfigError(f"{path}: lanes[{i}].name: duplicate lane name {spec.name!r}",
                              fix="give every lane a unique name")
        specs[spec.name] = spec
    return specs
