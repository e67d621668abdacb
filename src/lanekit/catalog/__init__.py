"""Sizing arithmetic: model shapes, memory envelopes, hardware, rooflines, known issues.

Pure functions; the only I/O is reading model headers (GGUF, config.json) and, on request,
hardware detection and a bandwidth measurement.
"""

from lanekit.catalog.memory import MemoryEstimate, estimate_memory, kv_bytes_per_token
from lanekit.catalog.models import ModelShape, catalog_models, resolve_model, shape_from_gguf

__all__ = [
    "MemoryEstimate",
    "ModelShape",
    "catalog_models",
    "estimate_memory",
    "kv_bytes_per_token",
    "resolve_model",
    "shape_from_gguf",
]
