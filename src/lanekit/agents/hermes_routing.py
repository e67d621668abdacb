"""A Hermes Agent config that routes each task to the right appliance lane, merged into the user's own
config.yaml (their other settings, providers and comments-free values kept; a backup written first).

Routing is client-side, as in seed 002: the agent's model (`main`) goes to one lane, its auxiliary tasks
(compression, web_extract, session_search, title_generation, …) to others; every lane is a named entry
of Hermes' `providers:` (config v12) so `/model custom:<name>:<model>` can switch by hand. The entry
shape is `agents.hermes_config.provider_entry` (the single place that knows Hermes' schema).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import yaml

from lanekit.agents.hermes_config import Endpoint, merge, provider_entry
from lanekit.errors import ConfigError

PROVIDER_PREFIX = "lanekit-"


class RoutedLane:
    """What the routing needs about one appliance lane."""

    def __init__(self, name: str, base_url: str, model: str, context_length: int) -> None:
        self.name, self.base_url, self.model, self.context_length = name, base_url, model, context_length


def routing_config(appliance: str, routes: dict[str, RoutedLane], lanes: list[RoutedLane], key: str) -> dict[str, Any]:
    """The keys lanekit owns in the merged config, in Hermes' `providers:` schema: one provider per
    lane (`lanekit-<appliance>-<lane>`), `model` on the `main` route's provider and `auxiliary.<task>`
    on the others'. The 64K floor is the caller's to warn about (Hermes refuses at start)."""
    def name(lane: RoutedLane) -> str:
        return f"{PROVIDER_PREFIX}{appliance}-{lane.name}"

    # every routed lane has its provider, listed or not
    every = {lane.name: lane for lane in [*lanes, *routes.values()]}
    providers = {name(lane): provider_entry(Endpoint(lane.base_url, lane.model, lane.context_length, key),
                                            f"lanekit {appliance} {lane.name}") for lane in every.values()}
    main = routes["main"]
    out: dict[str, Any] = {"model": {"provider": f"custom:{name(main)}", "default": main.model,
                                     "context_length": main.context_length}, "auxiliary": {}}
    for task, lane in routes.items():
        if task == "main":
            continue
        entry: dict[str, Any] = {"provider": f"custom:{name(lane)}", "model": lane.model,
                                 "context_length": lane.context_length}
        if task == "compression":
            entry["timeout"] = 900  # the long deadline is for summaries only
        out["auxiliary"][task] = entry
    out["providers"] = providers
    return out


def merge_config(user: dict[str, Any], routed: dict[str, Any], appliance: str) -> dict[str, Any]:
    """`user` with lanekit's keys laid over it (`agents.hermes_config.merge`: `model` on the main
    lane, each routed `auxiliary.<task>` key by key, other auxiliary settings kept); this
    appliance's earlier providers are replaced, every other provider is kept."""
    ours = f"{PROVIDER_PREFIX}{appliance}-"
    base = copy.deepcopy(user) if user else {}
    if isinstance(base.get("providers"), dict):
        base["providers"] = {k: v for k, v in base["providers"].items() if not str(k).startswith(ours)}
    return merge(base, routed)


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
