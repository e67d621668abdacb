"""The bakeoff's view of the catalog: a lane's memory estimate, roofline and hardware fingerprint."""

from __future__ import annotations

import platform
from typing import Any

from lanekit.lanes.spec import LaneSpec
from lanekit.results.models import Sizing


def hardware_fingerprint(ref: str = "auto") -> dict[str, Any]:
    """What the lanes ran on: detected (or named) profile plus CPU/OS facts."""
    import psutil

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": psutil.cpu_count(logical=False),
                            "threads": psutil.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
                            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}
    try:
        from lanekit.catalog import hardware

        profile = hardware.detect() if ref == "auto" else hardware.get_profile(ref)
        info["profile"] = profile.model_dump(mode="json") if hasattr(profile, "model_dump") else dict(profile)
    except Exception as exc:  # detection is best effort; the bakeoff still runs
        info["profile_error"] = str(exc)
    return info


def lane_fit(spec: LaneSpec, engine, hw: dict[str, Any]) -> Sizing:
    """Memory estimate + decode ceiling/prediction for one lane (numbers for the table)."""
    est = engine.memory_estimate(spec)
    out = Sizing(weights_bytes=est.weights_bytes, kv_bytes=est.kv_bytes, kv_bytes_per_token=est.kv_bytes_per_token,
                 overhead_bytes=est.overhead_bytes, total_bytes=est.total_bytes, explain=list(est.explain()))
    try:
        from lanekit.catalog import hardware, roofline
        from lanekit.catalog.models import shape_from_gguf

        shape = shape_from_gguf(engine.model_file(spec)) if hasattr(engine, "model_file") else None
        profile_dict = hw.get("profile")
        profile = hardware.profile_from_dict(profile_dict) if profile_dict else hardware.detect()
        if shape is not None:
            from lanekit.synth import is_synthetic

            out.synthetic = bool(spec.synthetic or is_synthetic(engine.model_file(spec)))
            roof = roofline.decode_roofline(shape, profile, engine=spec.engine)
            out.quant, out.active_params, out.total_params = shape.quant, shape.active_params, shape.total_params
            out.bytes_read_per_token = roof.bytes_read_per_token
            out.decode_ceiling_tok_s = roof.decode_ceiling_tok_s
            out.predicted_decode_tok_s = roof.predicted_decode_tok_s
            out.prediction_source = getattr(roof, "prediction_source", None)
            out.prediction_origin = getattr(roof, "prediction_origin", None)
            out.predicted_bench_tok_s = getattr(roof, "predicted_bench_tok_s", None)
    except Exception as exc:  # noqa: BLE001 - the roofline is advisory; never fail a lane for it
        out.error = f"{type(exc).__name__}: {exc}"
    return out
