"""lanekit: size, launch, benchmark and judge local LLM serving lanes for an agent harness.

The public API is what `__all__` lists; everything else may change between releases.
"""

from __future__ import annotations

__version__ = "0.1.0"

from lanekit.errors import (
    ConfigError,
    EndpointError,
    EngineBroken,
    EngineNotFound,
    HarnessError,
    LaneNotFound,
    LaneStartError,
    LanekitError,
    LaneWontFit,
    ModelError,
    PortInUse,
)

__all__ = [
    "__version__",
    "ConfigError",
    "EndpointError",
    "EngineBroken",
    "EngineNotFound",
    "HarnessError",
    "LaneNotFound",
    "LaneStartError",
    "LanekitError",
    "LaneWontFit",
    "ModelError",
    "PortInUse",
]
