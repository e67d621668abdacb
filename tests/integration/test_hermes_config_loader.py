"""lanekit's Hermes config, read back by Hermes' own loader in its venv (`./install.sh --hermes`):
no structure issues, the runtime resolves to the lane, the context is found for the model and for
the compression model, the owner's settings survive, and a legacy (v11) config still migrates."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from lanekit.agents.hermes import hermes_venv, installed_version, write_hermes_home
from lanekit.agents.hermes_config import Endpoint, lane_overlay, merge_into_home

pytestmark = pytest.mark.hermes
LANE = Endpoint("http://127.0.0.1:18080/v1", "qwen3-30b", 65536)
PROBE = r'''
import json, sys
from hermes_cli.config import (load_config, validate_config_structure, get_custom_provider_context_length,
                               migrate_config, check_config_version)
if "--migrate" in sys.argv:
    migrate_config(interactive=False, quiet=True)
from hermes_cli.runtime_provider import resolve_runtime_provider
from agent.auxiliary_client import _resolve_task_provider_model, get_text_auxiliary_client
cfg = load_config()
rt = resolve_runtime_provider()
client, aux_model = get_text_auxiliary_client("compression")
print(json.dumps({
    "issues": [str(getattr(i, "message", i)) for i in validate_config_structure(cfg)],
    "version": list(check_config_version()),
    "base_url": rt.get("base_url"), "model": cfg["model"].get("default"), "api_mode": rt.get("api_mode"),
    "ctx": get_custom_provider_context_length(base_url=rt.get("base_url"), model=cfg["model"]["default"], config=cfg),
    "model_ctx": cfg["model"].get("context_length"),
    "compression_provider": _resolve_task_provider_model("compression")[0],
    "compression_base_url": str(getattr(client, "base_url", "")), "compression_model": aux_model,
    "compression_ctx": cfg["auxiliary"]["compression"].get("context_length"),
    "memory": cfg.get("memory", {}), "providers": sorted(cfg.get("providers", {})),
    "custom_providers": cfg.get("custom_providers"),
}, default=str))
'''


@pytest.fixture(scope="module")
def hermes_python() -> Path:
    """Hermes' own interpreter: lanekit's venv here, else the one ./install.sh --hermes made."""
    for venv in (hermes_venv(), Path.home() / ".cache" / "lanekit" / "hermes-venv"):
        if (venv / "bin" / "python").is_file() and installed_version(venv) is not None:
            return venv / "bin" / "python"
    pytest.skip("hermes-agent is not installed in lanekit's venv (run ./install.sh --hermes)")


def _probe(python: Path, home: Path, *flags: str) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "HERMES_HOME": str(home), "HOME": str(home), "NO_COLOR": "1"}
    out = subprocess.run([str(python), "-c", PROBE, *flags], capture_output=True, text=True, env=env, timeout=180,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _assert_points_at_the_lane(got: dict) -> None:
    assert got["issues"] == []
    assert got["base_url"] == LANE.base_url and got["model"] == LANE.model and got["api_mode"] == "chat_completions"
    assert got["ctx"] == 65536 and got["model_ctx"] == 65536  # per-model and model section
    assert got["compression_provider"] == "custom:lanekit-q" and got["compression_model"] == LANE.model
    assert got["compression_base_url"].rstrip("/") == LANE.base_url and got["compression_ctx"] == 65536


def test_merged_owner_config_loads_and_resolves_to_the_lane(hermes_python, tmp_path):
    home = tmp_path / "hermes"
    home.mkdir()
    owner = {"_config_version": 33, "memory": {"memory_enabled": True, "user_profile_enabled": True},
             "display": {"skin": "mono"},
             "providers": {"my-router": {"api": "https://router.example/v1", "key_env": "ROUTER_KEY"}},
             "model": {"provider": "custom:my-router", "default": "big", "base_url": "https://router.example/v1"}}
    (home / "config.yaml").write_text(yaml.safe_dump(owner))
    merge_into_home(home, lane_overlay(LANE, key="lanekit-q"), apply=True)
    got = _probe(hermes_python, home)
    _assert_points_at_the_lane(got)
    assert got["memory"]["memory_enabled"] is True and got["memory"]["user_profile_enabled"] is True
    assert got["providers"] == ["lanekit-q", "my-router"] and got["version"] == [33, got["version"][1]]


def test_legacy_custom_providers_config_still_migrates_after_the_merge(hermes_python, tmp_path):
    home = tmp_path / "hermes"
    home.mkdir()
    legacy = {"_config_version": 11, "custom_providers": [{"name": "Old Box", "base_url": "http://10.0.0.9:8000/v1",
                                                           "api_key": "no-key-required", "model": "m"}]}
    (home / "config.yaml").write_text(yaml.safe_dump(legacy))
    merge_into_home(home, lane_overlay(LANE, key="lanekit-q"), apply=True)
    got = _probe(hermes_python, home, "--migrate")
    _assert_points_at_the_lane(got)
    assert "old-box" in got["providers"] and not got["custom_providers"]  # Hermes moved it next to ours


def test_private_battery_home_loads(hermes_python, tmp_path):
    write_hermes_home(tmp_path / "h", LANE.base_url, LANE.model, 65536)
    got = _probe(hermes_python, tmp_path / "h")
    assert got["issues"] == [] and got["base_url"] == LANE.base_url and got["ctx"] == 65536
    assert got["compression_base_url"].rstrip("/") == LANE.base_url and got["memory"]["memory_enabled"] is False


def test_appliance_routing_resolves_each_task_to_its_lane(hermes_python, tmp_path):
    """Issue 20's routing (main → one lane, compression → another), merged into an owner's config."""
    from lanekit.agents.hermes_routing import RoutedLane, routing_config, write_merged

    coder = RoutedLane("coder", "http://127.0.0.1:10101/v1", "coder-next", 65536)
    fast = RoutedLane("fast", "http://127.0.0.1:10102/v1", "qwen35", 65536)
    home = tmp_path / "hermes"
    home.mkdir()
    (home / "config.yaml").write_text(yaml.safe_dump({"memory": {"memory_enabled": True}}))
    write_merged(home / "config.yaml", routing_config("spark", {"main": coder, "compression": fast},
                                                      [coder, fast], "lk-key"), "spark")
    got = _probe(hermes_python, home)
    assert got["issues"] == [] and got["base_url"] == coder.base_url and got["model"] == "coder-next"
    assert got["ctx"] == 65536 and got["compression_model"] == "qwen35"
    assert got["compression_provider"] == "custom:lanekit-spark-fast"
    assert got["compression_base_url"].rstrip("/") == fast.base_url and got["compression_ctx"] == 65536
    assert got["memory"]["memory_enabled"] is True
