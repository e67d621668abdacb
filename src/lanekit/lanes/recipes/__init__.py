"""Recipes as data: the flags that work per engine × hardware × model family.

    apply_recipe("Qwen/Qwen3-30B-A3B-FP8", "vllm", "spark") -> LaneSpec
    resolve_recipe(...) -> Recipe (spec + exact command + sizing + notes)

Data lives in `hardware.yaml`, `engines.yaml` and `families.yaml` beside this file.
"""

from lanekit.lanes.recipes.data import find_family, get_hardware, hardware_profiles, harness_min_ctx
from lanekit.lanes.recipes.recipe import Recipe, apply_recipe, resolve_recipe

__all__ = ["Recipe", "apply_recipe", "find_family", "get_hardware", "hardware_profiles", "harness_min_ctx",
           "resolve_recipe"]
