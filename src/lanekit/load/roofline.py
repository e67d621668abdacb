"""The roofline column: a measured per-request decode rate as % of the catalog's bandwidth ceiling.

The ceiling comes from `lanekit.catalog.roofline` (bandwidth / active bytes per token). This
module is the one place that calls it and tolerates failure: no catalog, unknown model, no
ceiling → None, and the result simply carries no percentage.
"""

from __future__ import annotations

import functools
import math
from typing import Any

# Below this share of the ceiling a batch-1 decode figure is more likely a broken metric (idle time in
# the divisor, prefill counted as decode) or a starved box than a slow kernel. Dense models on
# bandwidth-bound engines land at 50–90%; a latency-bound MoE on an H100 measured 14.5%.
SANITY_FLOOR_PCT = 10.0


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


def roofline_block(decode_tok_s: float | None, ceiling_tok_s: float | None) -> dict[str, Any]:
    """{"ceiling_tok_s", "pct_of_ceiling", "warning"}; warns above 100% or below the sanity floor."""
    if ceiling_tok_s is None or decode_tok_s is None or not math.isfinite(decode_tok_s):
        return {"ceiling_tok_s": ceiling_tok_s, "pct_of_ceiling": None, "warning": None}
    pct = 100.0 * decode_tok_s / ceiling_tok_s
    warning = None
    if pct > 100.0:
        warning = (f"decode {decode_tok_s:.1f} tok/s is {pct:.0f}% of the bandwidth ceiling "
                   f"({ceiling_tok_s:.1f} tok/s): the metric (or the model shape) is wrong")
    elif pct < SANITY_FLOOR_PCT:
        warning = (f"decode {decode_tok_s:.1f} tok/s is only {pct:.0f}% of the bandwidth ceiling "
                   f"({ceiling_tok_s:.1f} tok/s): suspect the measurement (idle time in the divisor?) or a starved "
                   "box before the kernels")
    return {"ceiling_tok_s": round(ceiling_tok_s, 2), "pct_of_ceiling": round(pct, 1), "warning": warning}
