"""The roofline column: a measured per-request decode rate as % of the bandwidth ceiling and of
the calibrated prediction, with where the prediction came from.

The ceiling is bandwidth / active bytes per token, the prediction `catalog.predict`'s cost model
under the terms `catalog.terms` resolves (calibrated here / shipped / generic estimate), both
from `lanekit.catalog.roofline`. This module is the one place that calls it and tolerates
failure: no catalog, unknown model, no ceiling → None, and the row simply carries no percentage.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from pydantic import BaseModel

# Below this share of the ceiling a batch-1 decode figure is more likely a broken metric (idle time in
# the divisor, prefill counted as decode) or a starved box than a slow kernel. Dense models on
# bandwidth-bound engines land at 50–90%; a latency-bound MoE on an H100 measured 14.5%.
SANITY_FLOOR_PCT = 10.0
BENCH_DEPTH = 512  # context a single-stream bench row decodes at: its prompt plus half the output


class RooflineRef(BaseModel):
    """What a measured decode rate is judged against: the raw ceiling and the prediction."""

    ceiling_tok_s: float | None = None
    predicted_tok_s: float | None = None
    prediction_source: str | None = None
    prediction_origin: str | None = None
    depth: int = BENCH_DEPTH


@functools.lru_cache(maxsize=64)
def decode_ceiling_tok_s(model_ref: str | None, bandwidth_gb_s: float | None = None) -> float | None:
    """Batch-1 decode ceiling (tok/s) for a catalog id, embedded model id or GGUF path on this box
    (or at `bandwidth_gb_s`); None when the catalog, the model or the hardware cannot say.
    """
    if not model_ref:
        return None
    try:
        from lanekit.catalog import roofline
        from lanekit.catalog.hardware import detect
        from lanekit.catalog.models import resolve_model
    except ImportError:
        return None
    try:
        ref = model_ref
        from lanekit.lanes.embedded import EMBEDDED, resolve_model_file

        if ref in EMBEDDED:
            ref = str(resolve_model_file(ref))
        per_token = roofline.active_bytes(resolve_model(ref)).per_token_bytes
        if bandwidth_gb_s is None:
            hw = detect()
            bandwidth_gb_s = hw.measured_bandwidth_gb_s or hw.bandwidth_gb_s
        value = float(roofline.decode_ceiling_tok_s(per_token, bandwidth_gb_s))
    except Exception:  # noqa: BLE001 - unknown model, unreadable file: no roofline column, not a failure
        return None
    return value if math.isfinite(value) and value > 0 else None


@functools.lru_cache(maxsize=64)
def roofline_ref(model_ref: str | None, ceiling_tok_s: float | None = None, bandwidth_gb_s: float | None = None,
                 engine: str = "llamacpp", depth: int = BENCH_DEPTH) -> RooflineRef:
    """Ceiling and served single-stream prediction at `depth` for a catalog id, embedded model id
    or GGUF path on this box; a given `ceiling_tok_s` wins over the computed one. Fields the
    catalog cannot fill stay None."""
    ref = RooflineRef(ceiling_tok_s=ceiling_tok_s, depth=depth)
    if not model_ref:
        return ref
    try:
        from lanekit.catalog import roofline
        from lanekit.catalog.hardware import detect
        from lanekit.catalog.models import resolve_model
        from lanekit.lanes.embedded import EMBEDDED, resolve_model_file

        path = str(resolve_model_file(model_ref)) if model_ref in EMBEDDED else model_ref
        hw = detect()
        if bandwidth_gb_s is not None:
            hw = hw.model_copy(update={"measured_bandwidth_gb_s": bandwidth_gb_s})
        roof = roofline.decode_roofline(resolve_model(path), hw, engine=engine, depth=depth)
    except Exception:  # noqa: BLE001 - unknown model, unreadable file: no columns, not a failure
        if ceiling_tok_s is None:
            ref.ceiling_tok_s = decode_ceiling_tok_s(model_ref, bandwidth_gb_s)
        return ref
    if ceiling_tok_s is None and math.isfinite(roof.decode_ceiling_tok_s):
        ref.ceiling_tok_s = float(roof.decode_ceiling_tok_s)
    if math.isfinite(roof.predicted_decode_tok_s):
        ref.predicted_tok_s = round(float(roof.predicted_decode_tok_s), 2)
        ref.prediction_source, ref.prediction_origin = roof.prediction_source, roof.prediction_origin
    return ref


def roofline_block(decode_tok_s: float | None, ceiling: float | RooflineRef | None) -> dict[str, Any]:
    """{"ceiling_tok_s", "pct_of_ceiling", "predicted_tok_s", "pct_of_predicted", "prediction_source",
    "warning"}; warns above 100% of the ceiling or below the sanity floor. `ceiling` is a bare
    ceiling or a `RooflineRef` that also carries the prediction."""
    ref = ceiling if isinstance(ceiling, RooflineRef) else RooflineRef(ceiling_tok_s=ceiling)
    block: dict[str, Any] = {"ceiling_tok_s": ref.ceiling_tok_s, "pct_of_ceiling": None,
                             "predicted_tok_s": ref.predicted_tok_s, "pct_of_predicted": None,
                             "prediction_source": ref.prediction_source, "warning": None}
    if decode_tok_s is None or not math.isfinite(decode_tok_s):
        return block
    if ref.predicted_tok_s:
        block["pct_of_predicted"] = round(100.0 * decode_tok_s / ref.predicted_tok_s, 1)
    ceiling_tok_s = ref.ceiling_tok_s
    if ceiling_tok_s is None:
        return block
    pct = 100.0 * decode_tok_s / ceiling_tok_s
    warning = None
    if pct > 100.0:
        warning = (f"decode {decode_tok_s:.1f} tok/s is {pct:.0f}% of the bandwidth ceiling "
                   f"({ceiling_tok_s:.1f} tok/s): the metric (or the model shape) is wrong")
    elif pct < SANITY_FLOOR_PCT:
        warning = (f"decode {decode_tok_s:.1f} tok/s is only {pct:.0f}% of the bandwidth ceiling "
                   f"({ceiling_tok_s:.1f} tok/s): suspect the measurement (idle time in the divisor?) or a starved "
                   "box before the kernels")
    block.update(ceiling_tok_s=round(ceiling_tok_s, 2), pct_of_ceiling=round(pct, 1), warning=warning)
    return block
