"""The lane's Hermes settings merge into the owner's config.yaml: only the lane's keys change, a
diff is shown, a backup is kept; both windows (model, compression model) meet the 64K floor."""

from __future__ import annotations

import pytest
import yaml

from lanekit.agents.hermes_config import Endpoint, lane_overlay, merge, merge_into_home, provider_key
from lanekit.errors import HarnessError

LANE = Endpoint("http://127.0.0.1:8080/v1", "qwen3-30b", 65536)
OWNER = {"_config_version": 33, "memory": {"memory_enabled": True, "user_profile_enabled": True},
         "display": {"skin": "mono"}, "toolsets": ["hermes-cli"],
         "providers": {"openrouter": {"api": "https://openrouter.ai/api/v1", "key_env": "OPENROUTER_API_KEY"}},
         "model": {"provider": "openrouter", "default": "x/y", "base_url": "https://openrouter.ai/api/v1",
                   "temperature": 0.3},
         "auxiliary": {"vision": {"provider": "openrouter", "model": "v"}, "compression": {"timeout": 120}}}


def test_overlay_uses_the_providers_schema_keyed_by_name():
    cfg = lane_overlay(LANE, key=provider_key("qwen3 30b"))
    assert cfg["model"] == {"provider": "custom:lanekit-qwen3-30b", "default": "qwen3-30b", "context_length": 65536}
    assert cfg["providers"]["lanekit-qwen3-30b"]["models"]["qwen3-30b"] == {"context_length": 65536}
    assert cfg["auxiliary"]["compression"]["provider"] == "custom:lanekit-qwen3-30b"


def test_compression_model_on_another_lane_gets_its_own_provider_and_its_own_floor():
    comp = Endpoint("http://127.0.0.1:8081/v1", "small", 65536)
    cfg = lane_overlay(LANE, key="lanekit-a", compression=comp)
    assert cfg["auxiliary"]["compression"] == {"provider": "custom:lanekit-a-compression", "model": "small",
                                               "context_length": 65536}
    assert cfg["providers"]["lanekit-a-compression"]["api"] == "http://127.0.0.1:8081/v1"
    with pytest.raises(HarnessError, match="compression model 'small'.*refuses its compression model below 64,000"):
        lane_overlay(LANE, key="lanekit-a", compression=Endpoint(comp.base_url, "small", 32768))
    with pytest.raises(HarnessError, match="the model"):
        lane_overlay(Endpoint(LANE.base_url, "m", 8192), key="lanekit-a")


def test_merge_keeps_everything_the_lane_does_not_set():
    merged = merge(OWNER, lane_overlay(LANE, key="lanekit-q"))
    assert merged["memory"] == OWNER["memory"] and merged["display"] == OWNER["display"]
    assert merged["toolsets"] == ["hermes-cli"] and merged["_config_version"] == 33
    assert set(merged["providers"]) == {"openrouter", "lanekit-q"}
    assert merged["auxiliary"]["vision"] == OWNER["auxiliary"]["vision"]
    assert merged["auxiliary"]["compression"]["timeout"] == 120  # the owner's own setting stays
    # the old provider's endpoint keys go with it; the owner's other model settings stay
    assert "base_url" not in merged["model"] and merged["model"]["temperature"] == 0.3


def test_merge_into_home_shows_a_diff_and_keeps_a_backup(tmp_path):
    path = tmp_path / "config.yaml"
    original = "# my settings\n" + yaml.safe_dump(OWNER, sort_keys=False)
    path.write_text(original)
    dry = merge_into_home(tmp_path, lane_overlay(LANE, key="lanekit-q"))
    assert dry.changed and not dry.applied and path.read_text() == original
    assert "+  provider: custom:lanekit-q" in dry.diff and "-  base_url: https://openrouter.ai/api/v1" in dry.diff
    done = merge_into_home(tmp_path, lane_overlay(LANE, key="lanekit-q"), apply=True)
    assert done.applied and done.backup.read_text() == original
    assert yaml.safe_load(path.read_text())["memory"] == OWNER["memory"]
    again = merge_into_home(tmp_path, lane_overlay(LANE, key="lanekit-q"), apply=True)
    assert not again.changed and again.backup is None  # idempotent: no second backup


def test_fresh_home_gets_a_new_config(tmp_path):
    done = merge_into_home(tmp_path / "h", lane_overlay(LANE, key="lanekit-q"), apply=True)
    assert done.applied and done.backup is None and done.diff.startswith("--- /dev/null")


def test_cli_applies_a_profile_overlay(tmp_path):
    from lanekit.cli.main import main
    from lanekit.report.render.launch import hermes_files

    spec = {"name": "q", "engine": "vllm", "model": "Qwen/Qwen3-30B-A3B", "ctx": 65536}
    cfg_text, _, _ = hermes_files(spec)
    (tmp_path / "profile" / "hermes").mkdir(parents=True)
    (tmp_path / "profile" / "hermes" / "config.yaml").write_text(cfg_text)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(yaml.safe_dump(OWNER))
    args = ["hermes-config", "--profile", str(tmp_path / "profile"), "--hermes-home", str(home)]
    assert main(args) == 0 and yaml.safe_load((home / "config.yaml").read_text()) == OWNER  # dry run
    assert main([*args, "--apply"]) == 0
    merged = yaml.safe_load((home / "config.yaml").read_text())
    assert merged["model"]["provider"] == "custom:lanekit-q" and merged["memory"] == OWNER["memory"]
    assert len(list(home.glob("config.yaml.lanekit-*.bak"))) == 1
    small = hermes_files({**spec, "ctx": 8192})[0]
    (tmp_path / "profile" / "hermes" / "config.yaml").write_text(small)
    assert main(args) == 2  # a lane Hermes refuses is not written into its config
