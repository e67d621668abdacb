"""Served context per request ≥ the harness floor (Hermes: 65,536; it refuses below 64,000).

llama-server reports the per-slot window in `/props` → default_generation_settings.n_ctx
(`meta.n_ctx_train` in /v1/models is the *training* context, not what is served); vLLM and
SGLang report `max_model_len` in /v1/models; Ollama reports `context_length` in /api/ps.
"""

from __future__ import annotations

from lanekit.doctor import fixes
from lanekit.doctor.report import CheckResult

NAME = "context"


def served_ctx(probe) -> tuple[int | None, str]:
    """(tokens one request may use, where that number came from)."""
    engine = probe.detect_engine()
    props = probe.props()
    if props:
        n_ctx = props.get("default_generation_settings", {}).get("n_ctx")
        if isinstance(n_ctx, int):
            return n_ctx, f"/props n_ctx per slot ({props.get('total_slots', '?')} slots)"
    entry = probe.model_entry()
    if isinstance(entry.get("max_model_len"), int):
        return entry["max_model_len"], "/v1/models max_model_len"
    if engine == "ollama":
        reply = probe.get(probe.root + "/api/ps")
        if reply.ok:
            for m in reply.body.get("models", []):
                if m.get("name", "").startswith(probe.model_name().split(":")[0]) and m.get("context_length"):
                    return int(m["context_length"]), "/api/ps context_length"
    return None, ""


def run(probe) -> CheckResult:
    from lanekit.lanes.recipes import harness_min_ctx

    floor = harness_min_ctx().get(probe.harness) if probe.harness else None
    served, source = served_ctx(probe)
    train = probe.model_entry().get("meta", {}).get("n_ctx_train") if probe.model_entry() else None
    extra = f"; training context {train:,}" if isinstance(train, int) else ""
    if served is None:
        return CheckResult(name=NAME, status="warn" if floor else "pass",
                           detail="the server does not report its served context" + extra,
                           fix=f"check by hand that one request may use ≥ {floor:,} tokens" if floor else None)
    if floor and served < floor:
        slots = probe.props().get("total_slots")
        return CheckResult(name=NAME, status="fail",
                           detail=f"serves {served:,} tokens per request ({source}) < {floor:,}, the "
                                  f"{probe.harness} floor{extra}",
                           fix=fixes.context(probe.detect_engine(), floor, slots,
                                             train if isinstance(train, int) else None))
    floor_txt = f" ≥ {floor:,} ({probe.harness})" if floor else " (no harness floor given)"
    return CheckResult(name=NAME, status="pass", detail=f"{served:,} tokens per request ({source}){floor_txt}{extra}")
