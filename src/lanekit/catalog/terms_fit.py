"""Fit SpeedTerms to measured decode speeds, and score terms against measurements they never saw.

One row per measurement (a probe at a depth, through llama-bench or llama-server):

    t = token + sum_T bytes_T s_T + layers x layer + expert_calls x expert
        + expert_bytes x expert_extra + kv x s_kv + served x (server_token + n_vocab x server_vocab)

Every unknown is a non-negative cost, solved by bounded least squares on rows divided by the
measured time, so the fit minimises relative error (a 2 ms probe counts as much as a 20 ms
one). Minor weight types (norms and routers in F32, a type under 10% of every row) are read at
the rate of the row's main type. Each term's uncertainty follows from the residual noise (at
least 1%); terms the rows cannot tell apart, or pin only to worse than +-50%, are reported. A row
off by more than max(50%, 5 x the median error) is left out of a second fit and listed as dropped.
"""

from __future__ import annotations

import math
from statistics import median
from typing import Literal

from pydantic import BaseModel

from lanekit.catalog.predict import GB, DecodeWorkload, SpeedTerms, predict
from lanekit.errors import ConfigError

MIN_TYPE_SHARE = 0.10
NOISE_FLOOR = 0.01  # relative noise assumed for rows that fit perfectly (a design check)
MAX_UNCERTAINTY = 0.5  # a term known to worse than +-50% is reported as not pinned
OUTLIER_FLOOR, OUTLIER_FACTOR = 0.5, 5.0  # a row further off than both is left out and listed
Path = Literal["bench", "server"]


class Measurement(BaseModel):
    """One measured decode speed: a probe's workload at one depth through one path."""

    probe: str
    path: Path
    workload: DecodeWorkload  # at the mean depth the generated tokens saw
    tok_s: float
    depth: int | None = None  # context before the first generated token (None: the workload's)
    anchor_tok_s: float | None = None  # a reference probe's speed around this one (drift on a shared CPU)
    spread_pct: float | None = None  # relative spread of the repeats (stddev or p90-p10)
    samples: int = 1
    role: Literal["fit", "held_out"] = "fit"

    @property
    def seconds(self) -> float:
        return 1.0 / self.tok_s


class Residual(BaseModel):
    """Prediction against measurement for one row: error_pct = predicted / measured - 1."""

    probe: str
    path: Path
    depth: int
    role: str
    measured_tok_s: float
    predicted_tok_s: float
    error_pct: float


class FitResult(BaseModel):
    """Fitted terms, the residual of every row used, and what could not be pinned."""

    terms: SpeedTerms
    residuals: list[Residual]  # every row, dropped ones included
    unidentified: list[str]
    columns: list[str]
    dropped: list[str] = []


def _main_type(w: DecodeWorkload) -> str:
    return max(w.type_bytes, key=lambda t: w.type_bytes[t])


def _columns(rows: list[Measurement]) -> tuple[list[str], dict[str, bool]]:
    """Type columns (a type that is some row's main type, or a real share of one: never the
    norms' and routers' F32), plus which of the fixed terms the rows can see."""
    types = sorted({_main_type(m.workload) for m in rows} | {
        t for m in rows for t, b in m.workload.type_bytes.items()
        if b >= MIN_TYPE_SHARE * m.workload.weight_bytes and t not in ("F32", "F16", "BF16")})
    served = [m for m in rows if m.path == "server"]
    bench = [m for m in rows if m.path == "bench"]
    has = {
        "kv": any(m.workload.kv_bytes > 0 for m in rows) and len({m.workload.depth for m in rows}) > 1,
        "expert": any(m.workload.expert_calls for m in rows),
        "expert_extra": any(m.workload.expert_bytes for m in rows),
        # with only one path, the server's fixed cost is indistinguishable from the token's
        "server_token": bool(served) and bool(bench),
        "server_vocab": len({m.workload.n_vocab for m in served}) > 1,
    }
    return types, has


def _row(m: Measurement, types: list[str], has: dict[str, bool]) -> list[float]:
    w = m.workload
    by_type = dict.fromkeys(types, 0.0)
    main = _main_type(w)
    for t, b in w.type_bytes.items():
        by_type[t if t in by_type else main if main in by_type else types[0]] += b
    served = 1.0 if m.path == "server" else 0.0
    row = [by_type[t] for t in types] + [1.0, float(w.n_layers)]
    row += [w.kv_bytes] if has["kv"] else []
    row += [float(w.expert_calls)] if has["expert"] else []
    row += [w.expert_bytes] if has["expert_extra"] else []
    row += [served] if has["server_token"] else []
    row += [served * w.n_vocab] if has["server_vocab"] else []
    return row


def normalize_to_anchor(measurements: list[Measurement]) -> list[Measurement]:
    """Rows scaled to the least-contended moment of the run: tok_s x (fastest anchor / own anchor).

    On a shared CPU other work takes a varying share of the core a 1-thread llama.cpp runs on;
    a tiny reference probe timed around every probe tracks that share, and dividing it out puts
    probes measured minutes apart on one footing. Unless every row has an anchor, none is scaled.
    """
    anchors = [m.anchor_tok_s for m in measurements if m.anchor_tok_s]
    if not anchors or len(anchors) < len(measurements):  # all on one footing, or none: never a mix
        return measurements
    best = max(anchors)
    return [m.model_copy(update={"tok_s": m.tok_s * best / m.anchor_tok_s}) if m.anchor_tok_s else m
            for m in measurements]


def fit_terms(measurements: list[Measurement], *, hardware: str, engine: str = "llamacpp",
              source: str = "", peak_bandwidth_gb_s: float | None = None) -> FitResult:
    """Least-squares SpeedTerms from the `fit` rows of `measurements` (held-out rows are ignored).

    `peak_bandwidth_gb_s` caps a type's fitted bandwidth at twice the peak: a type whose bytes
    the rows cannot price (a zero slope) is reported as unidentified and read at the default.
    """
    import numpy as np
    from scipy.optimize import lsq_linear

    rows = [m for m in measurements if m.role == "fit" and m.tok_s > 0]
    if len(rows) < 4:
        raise ConfigError(f"calibration has {len(rows)} usable measurements; it needs at least 4",
                          fix="run `lanekit calibrate` with more probes (--probes cpu or gpu)")
    types, has = _columns(rows)
    names = [f"bytes:{t}" for t in types] + ["token", "layer"] + [
        k for k in ("kv", "expert", "expert_extra", "server_token", "server_vocab") if has[k]]
    a = np.array([_row(m, types, has) for m in rows], dtype=float)
    t = np.array([m.seconds for m in rows])
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    design = a / scale / t[:, None]
    sol = lsq_linear(design, np.ones(len(rows)), bounds=(0.0, np.inf), method="bvls")
    keep = _inliers(design @ sol.x - 1.0)
    if not keep.all():  # a row a burst of other work slowed tenfold would drag every term: fit without it
        sol = lsq_linear(design[keep], np.ones(int(keep.sum())), bounds=(0.0, np.inf), method="bvls")
    dropped = [f"{m.probe} {m.path} @{m.depth if m.depth is not None else m.workload.depth}"
               for m, k in zip(rows, keep, strict=True) if not k]
    x = sol.x / scale
    coef = dict(zip(names, x, strict=True))
    unidentified = _poorly_pinned(design[keep], sol.x, names)
    cap = 2 * peak_bandwidth_gb_s if peak_bandwidth_gb_s else math.inf
    bandwidth: dict[str, float] = {}
    for ty in types:
        s = coef[f"bytes:{ty}"]
        if s > 0 and 1.0 / (s * GB) <= cap:
            bandwidth[ty] = round(1.0 / (s * GB), 2)
        elif f"bytes:{ty}" not in unidentified:
            unidentified.append(f"bytes:{ty}")
    weights = {ty: sum(m.workload.type_bytes.get(ty, 0.0) for m in rows) for ty in bandwidth}
    total = sum(weights.values())
    default = (total / sum(weights[ty] / bandwidth[ty] for ty in bandwidth)) if bandwidth else \
        (peak_bandwidth_gb_s or 100.0) * 0.75
    kv_s = coef.get("kv", 0.0)
    terms = SpeedTerms(
        hardware=hardware, engine=engine, origin="calibrated", source=source,
        bandwidth_gb_s=bandwidth, default_bandwidth_gb_s=round(default, 2),
        kv_bandwidth_gb_s=round(1.0 / (kv_s * GB), 2) if kv_s > 0 else None,
        token_us=round(coef["token"] * 1e6, 3), layer_us=round(coef["layer"] * 1e6, 3),
        expert_us=round(coef.get("expert", 0.0) * 1e6, 3),
        expert_extra_ps_per_byte=round(coef.get("expert_extra", 0.0) * 1e12, 4),
        server_token_us=round(coef.get("server_token", 0.0) * 1e6, 3),
        server_vocab_ns=round(coef.get("server_vocab", 0.0) * 1e9, 4),
    )
    residuals = score(rows, terms)
    terms.fit = {"points": len(rows), "columns": names, "unidentified": unidentified, "dropped": dropped,
                 "residuals": residual_summary([r for r, k in zip(residuals, keep, strict=True) if k])}
    return FitResult(terms=terms, residuals=residuals, unidentified=unidentified, columns=names, dropped=dropped)


def _inliers(rel_resid):
    """Rows to keep: all but those off by more than max(50%, 5 x the median), and never so many
    that fewer than 80% of the rows remain (then the model, not a row, is what is wrong)."""
    import numpy as np

    err = np.abs(rel_resid)
    limit = max(OUTLIER_FLOOR, OUTLIER_FACTOR * float(np.median(err)))
    keep = err <= limit
    return keep if keep.sum() >= 0.8 * len(err) else np.ones(len(err), dtype=bool)


def _poorly_pinned(design, x, names: list[str]) -> list[str]:
    """Columns the rows cannot tell apart from the others, or pin only to worse than +-50%.

    Covariance = noise^2 (J^T J)^-1 on the relative-error design J, noise = the residual RMS
    (at least `NOISE_FLOOR`); a term fitted at zero is left out (it may truly be zero).
    """
    import numpy as np

    resid = design @ x - 1.0
    dof = max(design.shape[0] - design.shape[1], 1)
    noise = max(float(np.sqrt((resid @ resid) / dof)), NOISE_FLOOR)
    gram = design.T @ design
    sv = np.linalg.svd(gram, compute_uv=False)
    cov = np.linalg.pinv(gram, rcond=1e-12) * noise**2
    out = []
    for i, name in enumerate(names):
        alone = np.delete(design, i, axis=1)
        if np.linalg.matrix_rank(alone, tol=1e-9 * sv.max() ** 0.5) == np.linalg.matrix_rank(
                design, tol=1e-9 * sv.max() ** 0.5):
            out.append(name)  # in the span of the others: any value fits
        elif x[i] > 0 and np.sqrt(max(cov[i, i], 0.0)) > MAX_UNCERTAINTY * x[i]:
            out.append(name)
    return out


def score(measurements: list[Measurement], terms: SpeedTerms) -> list[Residual]:
    """Each measurement against the prediction `terms` make for it."""
    out = []
    for m in measurements:
        pred = predict(m.workload, terms, served=m.path == "server").tok_s
        out.append(Residual(probe=m.probe, path=m.path, depth=m.workload.depth if m.depth is None else m.depth,
                            role=m.role,
                            measured_tok_s=round(m.tok_s, 3), predicted_tok_s=round(pred, 3),
                            error_pct=round(100.0 * (pred / m.tok_s - 1.0), 2)))
    return out


def residual_summary(residuals: list[Residual]) -> dict[str, float | int | None]:
    """Count, median and largest absolute error, and the share of rows within 10%."""
    errs = [abs(r.error_pct) for r in residuals]
    if not errs:
        return {"n": 0, "median_abs_pct": None, "max_abs_pct": None, "within_10_pct": None}
    return {"n": len(errs), "median_abs_pct": round(median(errs), 2), "max_abs_pct": round(max(errs), 2),
            "within_10_pct": round(sum(e <= 10.0 for e in errs) / len(errs), 3)}
