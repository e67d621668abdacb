"""The lane state machine allows only the documented transitions."""

from __future__ import annotations

import pytest

from lanekit.lanes.lifecycle import Lane, LaneState
from lanekit.lanes.spec import parse_lane


def test_illegal_transitions_raise():
    lane = Lane(parse_lane({"name": "a", "model": "smollm2-135m"}))
    assert lane.state is LaneState.STOPPED
    with pytest.raises(RuntimeError, match="illegal transition"):
        lane._set_state(LaneState.READY)
    lane._set_state(LaneState.STARTING)
    lane._set_state(LaneState.READY)
    with pytest.raises(RuntimeError):
        lane._set_state(LaneState.STARTING)
    lane._set_state(LaneState.STOPPING)
    lane._set_state(LaneState.STOPPED)


def test_stop_before_start_is_a_no_op():
    lane = Lane(parse_lane({"name": "a", "model": "smollm2-135m"}))
    assert lane.stop() is None and lane.state is LaneState.STOPPED
