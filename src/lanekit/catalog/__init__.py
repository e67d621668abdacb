"""Sizing arithmetic: model shapes, memory envelopes, hardware, rooflines, known issues.

Pure functions; the only I/O is reading model headers (GGUF, config.json) and, on request,
hardware detection and a bandwidth measurement.
"""

from lanekit.catalog.fit import FitReport, fit_model
from lanekit.catalog.hardware import HardwareProfile, detect, get_profile, measure_bandwidth
from lanekit.catalog.issues import KnownIssue, issues_for
from lanekit.catalog.memory import MemoryEstimate, estimate_memory, kv_bytes_per_token
from lanekit.catalog.models import ModelShape, catalog_models, resolve_model, shape_from_gguf
from lanekit.catalog.roofline import Roofline, decode_roofline

__all__ = [
    "FitReport",
    "HardwareProfile",
    "KnownIssue",
    "MemoryEstimate",
    "ModelShape",
    "Roofline",
    "catalog_models",
    "decode_roofline",
    "detect",
    "estimate_memory",
    "fit_model",
    "get_profile",
    "issues_for",
    "kv_bytes_per_token",
    "measure_bandwidth",
    "resolve_model",
    "shape_from_gguf",
]
