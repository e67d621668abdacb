"""LaneSpec validation and lanes.yaml errors name the field path and the fix."""

from __future__ import annotations

import pytest

from lanekit.errors import ConfigError
from lanekit.lanes.spec import load_lanes_file, parse_lane


def test_defaults_and_engine_discrimination():
    spec = parse_lane({"name": "a", "model": "smollm2-135m"})
    assert spec.engine == "llamacpp" and spec.host == "127.0.0.1" and spec.ctx == 4096
    assert type(spec).__name__ == "LlamaCppLaneSpec"


def test_error_names_field_path_in_lanes_file(tmp_path):
    path = tmp_path / "lanes.yaml"
    path.write_text("lanes:\n  - {name: ok, model: m.gguf}\n  - {name: bad, model: m.gguf, ctx: -5}\n")
    with pytest.raises(ConfigError) as info:
        load_lanes_file(path)
    assert "lanes[1].ctx" in info.value.message
    assert info.value.fix


def test_unknown_field_and_unknown_engine_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"lanes\[0\]\.ctxx: unknown field"):
        parse_lane({"name": "a", "model": "m", "ctxx": 5}, where="lanes[0]")
    with pytest.raises(ConfigError, match="engine must be one of"):
        parse_lane({"name": "a", "model": "m", "engine": "nonsense"})


def test_bad_kv_dtype_and_name(tmp_path):
    with pytest.raises(ConfigError, match="kv_dtype"):
        parse_lane({"name": "a", "model": "m", "kv_dtype": "int3"})
    with pytest.raises(ConfigError, match="name"):
        parse_lane({"name": "has space", "model": "m"})


def test_duplicate_names_and_missing_list(tmp_path):
    path = tmp_path / "lanes.yaml"
    path.write_text("lanes:\n  - {name: a, model: m}\n  - {name: a, model: m}\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_lanes_file(path)
    path.write_text("name: a\n")
    with pytest.raises(ConfigError, match="lanes:"):
        load_lanes_file(path)
    path.write_text("lanes: [\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_lanes_file(path)


def test_extra_args_string_is_split():
    spec = parse_lane({"name": "a", "model": "m", "extra_args": "--foo 1 --bar 'x y'"})
    assert spec.extra_args == ["--foo", "1", "--bar", "x y"]
