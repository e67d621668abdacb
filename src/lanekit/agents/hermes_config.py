"""Hermes Agent's config.yaml in its current schema, and a merge into the owner's own config.

Hermes' config migration v11→v12 moved endpoints from the `custom_providers:` list to
`providers:` keyed by name (`api`, `default_model`, `transport`, per-model `context_length`);
`model.provider: custom:<key>` selects one. Hermes checks the context window of the main model and,
separately, of the compression model (`auxiliary.compression`), each against a hard 64,000 floor.

    lane_overlay(Endpoint(url, model, ctx), key="lanekit-qwen") -> dict    # what a lane sets
    merge_into_home(Path("~/.hermes"), overlay, apply=True) -> MergeResult  # diff shown, backup kept

The merge touches only what the overlay names: the owner's memory, profile, toolsets, other
providers and auxiliary tasks stay as they were; the previous model section's endpoint keys
(`base_url`, `api_key`, `api_mode`) go, since they belong to the provider being replaced.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lanekit.catalog.harnesses import HERMES
from lanekit.errors import ConfigError, HarnessError

TRANSPORT = "chat_completions"
_STALE_MODEL_KEYS = ("base_url", "api_key", "api_mode", "api", "url")


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible model Hermes talks to: where, which model, and the window it serves."""

    base_url: str
    model: str
    context_length: int
    api_key: str | None = None


def provider_key(name: str) -> str:
    """A `providers:` key for a lane: `lanekit-<name>` in Hermes' kebab-case."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "lane"
    return slug if slug.startswith("lanekit") else f"lanekit-{slug}"


def check_floor(ep: Endpoint, role: str = "model") -> None:
    """HarnessError when Hermes would refuse this endpoint's window (main and compression alike)."""
    if ep.context_length < HERMES.min_context:
        raise HarnessError(
            f"the {role} {ep.model!r} at {ep.base_url} serves {ep.context_length:,} tokens; Hermes refuses "
            f"its {role} below {HERMES.min_context:,}",
            fix=f"serve ctx >= {HERMES.serve_context:,} per request on that lane (llama.cpp: -c "
                f"{HERMES.serve_context:,} x -np), or point the {role} at a lane that does")


def provider_entry(ep: Endpoint, name: str) -> dict[str, Any]:
    """One `providers:` entry: the endpoint, its default model and that model's window."""
    entry: dict[str, Any] = {"name": name, "api": ep.base_url, "default_model": ep.model, "transport": TRANSPORT,
                             "models": {ep.model: {"context_length": ep.context_length}}}
    if ep.api_key:
        entry["api_key"] = ep.api_key
    return entry


def lane_overlay(main: Endpoint, *, key: str, compression: Endpoint | None = None,
                 compression_key: str | None = None, max_tokens: int | None = None,
                 check: bool = True) -> dict[str, Any]:
    """The keys a lane sets in Hermes' config: its provider, the model and the compression model.

    The compression model defaults to the lane's own model; both windows are checked against the
    64K floor (`check=False` renders a config that is known to be refused, for a warning beside it)."""
    comp = compression or main
    if check:
        check_floor(main, "model")
        check_floor(comp, "compression model")
    model: dict[str, Any] = {"provider": f"custom:{key}", "default": main.model, "context_length": main.context_length}
    if max_tokens:
        model["max_tokens"] = max_tokens
    providers = {key: provider_entry(main, f"lanekit {key.removeprefix('lanekit-')}")}
    ckey = key
    if compression is not None and (compression.base_url, compression.model) != (main.base_url, main.model):
        ckey = compression_key or f"{key}-compression"
        providers[ckey] = provider_entry(compression, f"lanekit {ckey.removeprefix('lanekit-')}")
    return {"model": model, "providers": providers,
            "auxiliary": {"compression": {"provider": f"custom:{ckey}", "model": comp.model,
                                          "context_length": comp.context_length}}}


def merge(existing: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`existing` with the overlay laid over it: nested mappings merge key by key, the overlay wins.

    A `model:` section that names another provider loses its endpoint keys (they described that one)."""
    out = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    for key, value in overlay.items():
        old = out.get(key)
        if key == "model" and isinstance(old, dict) and isinstance(value, dict):
            if old.get("provider") != value.get("provider"):
                old = {k: v for k, v in old.items() if k not in _STALE_MODEL_KEYS}
            out[key] = merge(old, value)
        elif isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class MergeResult:
    """What a merge into a Hermes home did (or, without `apply`, would do)."""

    path: Path
    diff: str
    changed: bool
    applied: bool
    backup: Path | None = None


def dump(config: dict[str, Any]) -> str:
    """YAML as Hermes writes it (insertion order, block style, unicode kept)."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


def read_config(path: Path) -> dict[str, Any]:
    """An existing config.yaml ({} when absent); ConfigError naming the file when it is not YAML."""
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})",
                          fix="fix the file by hand (Hermes would not read it either), then retry") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", fix="fix or move the file, then retry")
    return doc


def merge_into_home(home: Path, overlay: dict[str, Any], *, apply: bool = False) -> MergeResult:
    """Merge `overlay` into `home`/config.yaml: the unified diff always, the write only with `apply`
    (the previous file kept as config.yaml.lanekit-<time>.bak, the new one written atomically)."""
    home = home.expanduser()
    path = home / "config.yaml"
    before = path.read_text(encoding="utf-8") if path.is_file() else ""
    after = dump(merge(read_config(path), overlay))
    changed = yaml.safe_load(before or "{}") != yaml.safe_load(after)
    diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=str(path) if before else "/dev/null", tofile=str(path)))
    result = MergeResult(path=path, diff=diff, changed=changed, applied=False)
    if not apply or not changed:
        return result
    home.mkdir(parents=True, exist_ok=True)
    if before:
        result.backup = path.with_name(f"config.yaml.lanekit-{time.strftime('%Y%m%d-%H%M%S')}.bak")
        result.backup.write_text(before, encoding="utf-8")
    tmp = path.with_name(f".config.yaml.lanekit-{os.getpid()}")
    tmp.write_text(after, encoding="utf-8")
    if path.is_file():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    tmp.replace(path)
    result.applied = True
    return result
