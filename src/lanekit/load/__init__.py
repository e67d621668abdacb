"""lanekit.load: honest throughput — declared metrics, Prometheus scraping,
telemetry, and the scenarios `lanekit bench` and the bakeoff call (`run_single`, `run_sustained`,
`run_sweep`, `run_prefix`, `run_depth`); names resolve lazily. The stable JSON is documented on
`lanekit.load.result.ScenarioResult`.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ScenarioResult": "lanekit.load.result",
    "run_single": "lanekit.load.scenarios",
    "run_sustained": "lanekit.load.scenarios",
    "run_sweep": "lanekit.load.scenarios",
    "run_prefix": "lanekit.load.context",
    "run_depth": "lanekit.load.context",
    "RequestRecord": "lanekit.endpoint.records",
    "ListSink": "lanekit.load.sink",
    "EndpointGone": "lanekit.load.watch",
    "Scraper": "lanekit.load.scrape",
    "TelemetrySampler": "lanekit.load.telemetry",
}

__all__ = ["EndpointGone", "ListSink", "RequestRecord", "ScenarioResult", "Scraper", "TelemetrySampler",
           "run_depth", "run_prefix", "run_single", "run_sustained", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lanekit.load' has no attribute {name!r}")
