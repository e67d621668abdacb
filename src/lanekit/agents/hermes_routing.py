"""A Hermes Agent config that routes each task to the right appliance lane, merged into the user's own
config.yaml (their other settings, providers and comments-free values kept; a backup written first).

Routing is client-side, as in seed 002: the agent's model (`main`) goes to one lane, its auxiliary tasks
(compression, web_extract, session_search, title_generation, …) to others; every lane is also listed as a
named custom provider so `/model custom:<name>:<model>` can switch by hand. The provider shape is the one
`agents.hermes.hermes_config` writes (the single place that knows Hermes' schema).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import yaml

from lanekit.agents.hermes import hermes_config
from lanekit.errors import ConfigError

PROVIDER_PREFIX = "lanekit-"


class RoutedLane:
    """What the routing needs about one appliance lane."""

    def __init__(self, name: str, base_url: str, model: str, context_length: int) -> None:
        self.name, self.base_url, self.model, self.context_length = name, base_url, model, context_length


def routing_config(appliance: str, routes: dict[str, RoutedLane], lanes: list[RoutedLane], key: str) -> dict[str, Any]:
    """The keys lanekit owns in the merged config: `model` (the `main` route), `auxiliary.<task>` for the
    other routes, and one `custom_providers` entry per lane."""
    main = routes["main"]
    base = hermes_config(main.base_url, main.model, main.context_length, api_key=key, max_tokens=None)
    out: dict[str, Any] = {"model": base["model"], "auxiliary": {}}
    for task, lane in routes.items():
        if task == "main":
            continue
        shape = hermes_config(lane.base_url, lane.model, lane.context_length, api_key=key, max_tokens=None)
        entry = dict(shape["auxiliary"]["compression"])
        if task != "compression":
            entry.pop("timeout", None)  # the long compression deadline is for summaries only
        out["auxiliary"][task] = entry
    out["custom_providers"] = [{"name": f"{PROVIDER_PREFIX}{appliance}-{lane.name}", "base_url": lane.base_url,
                                "api_key": key, "models": {lane.model: {"context_length": lane.context_length}}}
                               for lane in lanes]
    return out


def merge_config(user: dict[str, Any], routed: dict[str, Any], appliance: str) -> dict[str, Any]:
    """`user` with lanekit's keys set: `model` replaced, `auxiliary.<task>` replaced per routed task
    (other auxiliary settings kept), this appliance's providers replaced, every other provider kept."""
    merged = copy.deepcopy(user) if user else {}
    merged["model"] = routed["model"]
    aux = merged.get("auxiliary") if isinstance(merged.get("auxiliary"), dict) else {}
    for task, entry in routed["auxiliary"].items():
        aux[task] = {**(aux.get(task) if isinstance(aux.get(task), dict) else {}), **entry}
    merged["auxiliary"] = aux
    ours = f"{PROVIDER_PREFIX}{appliance}-"
    kept = [p for p in merged.get("custom_providers") or []
            if not (isinstance(p, dict) and str(p.get("name", "")).startswith(ours))]
    merged["custom_providers"] = kept + routed["custom_providers"]
    return merged


def hermes_config_path() -> Path:
    """The user's Hermes config: $HERMES_HOME/config.yaml, else ~/.hermes/config.yaml."""
    root = os.environ.get("HERMES_HOME")
    return (Path(root).expanduser() if root else Path.home() / ".hermes") / "config.yaml"


def write_merged(path: Path, routed: dict[str, Any], appliance: str) -> tuple[Path, Path | None]:
    """Merge into the config at `path` (created when missing); the previous file is kept as a backup.
    Returns (config, backup)."""
    user: dict[str, Any] = {}
    backup = None
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})",
                              fix="fix the file, or pass --hermes-config to write another one") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top", fix="fix the file")
        user = loaded
        backup = path.with_name(f"{path.name}.lanekit-{time.strftime('%Y%m%d-%H%M%S')}.bak")
        backup.write_bytes(path.read_bytes())
        os.chmod(backup, 0o600)
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = merge_config(user, routed, appliance)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the appliance's key
    with os.fdopen(fd, "w") as fh:
        fh.write(yaml.safe_dump(merged, sort_keys=False))
    tmp.replace(path)
    return path, backup
