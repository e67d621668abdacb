"""`lanekit tune` argument parsing and its one-line errors."""

from __future__ import annotations

import pytest

from lanekit.cli.main import main
from lanekit.cli.tune import parse_budget, parse_params
from lanekit.errors import ConfigError


def test_budget_is_trials_or_a_duration():
    assert parse_budget(None) == (20, None)
    assert parse_budget("12") == (12, None)
    assert parse_budget("30m") == (None, 1800.0)
    assert parse_budget("90s") == (None, 90.0)
    with pytest.raises(ConfigError, match="--budget"):
        parse_budget("soon")


def test_params_are_typed():
    assert parse_params(["threads=1,2", "repack=true", "kv_dtype=q8_0"]) == {
        "threads": [1, 2], "repack": [True], "kv_dtype": ["q8_0"]}
    with pytest.raises(ConfigError, match="NAME=V1,V2"):
        parse_params(["threads"])


def test_bad_budget_exits_2_with_one_line(capsys):
    assert main(["tune", "--budget", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--budget" in err and "Traceback" not in err


def test_unknown_objective_exits_2(capsys):
    assert main(["tune", "--objective", "vibes", "--budget", "1"]) == 2
    assert "turn_s" in capsys.readouterr().err


def test_bakeoff_tune_flag_sets_the_plans_tune_budget_and_keeps_its_settings(capsys):
    from lanekit.bakeoff import load_plan
    from lanekit.bakeoff.plan import TuneCfg
    from lanekit.cli.bakeoff import with_tune

    plan = load_plan(None)
    assert plan.tune is None
    tuned = with_tune(plan, "30m")
    assert tuned.tune.budget_s == 1800.0 and tuned.tune.budget_trials is None and plan.tune is None
    kept = with_tune(plan.model_copy(update={"tune": TuneCfg(objective="decode", seed=7)}), "5")
    assert (kept.tune.objective, kept.tune.seed, kept.tune.budget_trials) == ("decode", 7, 5)
    assert main(["bakeoff", "--tune", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--tune" in err and "Traceback" not in err
