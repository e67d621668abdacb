"""The main job: run every lane of a plan one at a time on the same work, rank, publish a profile."""

from lanekit.bakeoff.plan import BakeoffPlan, default_plan, load_plan
from lanekit.bakeoff.runner import run_bakeoff

__all__ = ["BakeoffPlan", "default_plan", "load_plan", "run_bakeoff"]
