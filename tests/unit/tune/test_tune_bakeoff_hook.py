"""The bakeoff `tune:` block: parsed with the plan, and a finished tune's winner reused by name."""

from __future__ import annotations

import pytest

from lanekit.bakeoff.plan import parse_plan
from lanekit.errors import ConfigError
from lanekit.lanes.spec import parse_lane
from lanekit.tune.result import TuneResult
from lanekit.tune.search import study_name
from lanekit.tune.session import TuneOptions, _prepare, artifact_dir, tuned_spec

LANE = {"name": "smol", "model": "smollm2-135m"}


def test_plan_takes_a_tune_block_and_names_a_bad_field():
    plan = parse_plan({"lanes": [LANE], "tune": {"objective": "decode", "budget_trials": 6,
                                                   "params": {"threads": [1, 2]}}})
    assert plan.tune.objective == "decode" and plan.tune.params == {"threads": [1, 2]}
    with pytest.raises(ConfigError, match="tune.objective"):
        parse_plan({"lanes": [LANE], "tune": {"objective": "vibes"}})


def test_a_finished_tune_is_reused_and_keeps_the_lane_name():
    spec = parse_lane(LANE)
    options = TuneOptions(objective="decode", params={"threads": [1]})
    space, objective = _prepare(spec, options)
    name = study_name(spec, space, objective)
    winner = {"engine": "llamacpp", "name": "smol", "model": "smollm2-135m", "threads": 1, "kv_dtype": "q8_0",
              "flash_attn": "on"}
    result = TuneResult(lane="smol", engine="llamacpp", objective="decode", unit="tok/s", larger_is_better=True,
                        space=space.to_json(), grid_size=1, study=name, seed=0, stop_reason="budget", trials=[],
                        winner_spec=winner, winner_params={"kv_dtype": "q8_0"})
    (artifact_dir() / f"{name}.json").write_text(result.model_dump_json())
    tuned, got = tuned_spec(spec, options)  # no launcher: a search here would start llama-server
    assert tuned.name == "smol" and tuned.kv_dtype == "q8_0" and got.study == name
