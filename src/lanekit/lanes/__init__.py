"""Lanes: a spec, an engine, and a lifecycle that never leaves a process or memory behind."""

from lanekit.lanes.lifecycle import Lane, LaneState, TeardownReport, down, serve_lane
from lanekit.lanes.spec import LaneSpec, load_lanes_file, parse_lane

__all__ = ["Lane", "LaneSpec", "LaneState", "TeardownReport", "down", "load_lanes_file", "parse_lane", "serve_lane"]
