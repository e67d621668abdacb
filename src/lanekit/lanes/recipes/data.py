"""Recipe data: the YAML files beside this module, loaded once and looked up by name.

`hardware.yaml` (per-box flags), `engines.yaml` (engine defaults, harness context floors) and
`families.yaml` (tool-call / reasoning parsers, template fixes per model family).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from lanekit.errors import ConfigError

HERE = Path(__file__).resolve().parent
# vllm-docker takes the bare vLLM engine's family/hardware settings first, then its own.
ENGINE_BASES = {"vllm-docker": ["vllm", "vllm-docker"]}


class Hardware(BaseModel):
    """One hardware profile from hardware.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    aliases: list[str] = Field(default_factory=list)
    unified: bool
    pool_gib: float | None = None
    bandwidth_gb_s: float | None = None
    sm: str | None = None
    gpu: bool = True
    max_gpu_memory_utilization: float = 0.9
    fallback_gpu_memory_utilization: float = 0.7
    engines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def pool_bytes(self) -> int:
        """Memory a lane may plan against: the profile's figure, else this machine's total."""
        if self.pool_gib:
            return int(self.pool_gib * (1 << 30))
        import psutil

        return int(psutil.virtual_memory().total)


class Family(BaseModel):
    """One model family from families.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str
    match: list[str]
    tools: bool = True
    native_ctx: int | None = None
    long_context: dict[str, Any] | None = None
    engines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def matches(self, model_ref: str) -> bool:
        ref = model_ref.lower()
        return any(re.search(pattern, ref) for pattern in self.match)


def _load(name: str) -> dict[str, Any]:
    path = HERE / name
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:  # a packaging bug, but say which file
        raise ConfigError(f"{path}: invalid YAML ({exc})", fix="fix the recipe data file") from None


@functools.cache
def hardware_profiles() -> dict[str, Hardware]:
    """Every hardware profile by id."""
    doc = _load("hardware.yaml")["hardware"]
    return {hid: Hardware(id=hid, **body) for hid, body in doc.items()}


@functools.cache
def families() -> list[Family]:
    """Model families in match order."""
    return [Family(**body) for body in _load("families.yaml")["families"]]


@functools.cache
def engine_defaults() -> dict[str, dict[str, Any]]:
    """engines.yaml's per-engine defaults."""
    return _load("engines.yaml")["engines"]


@functools.cache
def harness_min_ctx() -> dict[str, int]:
    """Context to serve per request for each agent harness (hermes: 65,536), from `catalog.harnesses`."""
    from lanekit.catalog.harnesses import HARNESSES

    return {name: facts.serve_context for name, facts in HARNESSES.items()}


def get_hardware(name: str) -> Hardware:
    """A profile by id or alias; ConfigError lists the known ones."""
    key = name.strip().lower()
    for hw in hardware_profiles().values():
        if key == hw.id or key in hw.aliases:
            return hw
    raise ConfigError(f"--hw: unknown hardware {name!r}", fix=f"use one of: {', '.join(hardware_profiles())}")


def find_family(model_ref: str) -> Family | None:
    """The first family whose pattern matches the model reference (path basename included)."""
    for fam in families():
        if fam.matches(model_ref):
            return fam
    return None


def engine_layers(block: dict[str, dict[str, Any]], engine: str) -> list[dict[str, Any]]:
    """The blocks for `engine` in merge order (vllm-docker: the vllm block, then its own)."""
    return [block[name] for name in ENGINE_BASES.get(engine, [engine]) if name in block]


def merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """Later layer wins; `env` and `llm_api_options` merge by key; `extra_args` concatenate."""
    out = dict(base)
    for key, value in layer.items():
        if key in ("env", "llm_api_options", "hf_overrides") and isinstance(value, dict):
            out[key] = {**out.get(key, {}), **value}
        elif key == "extra_args" and isinstance(value, list):
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = value
    return out
