"""`run_doctor`: every check against one live lane, returning a DoctorReport.

A check that raises is a bug in the doctor, not in the lane: it is reported as a `warn` with
the exception, so one broken check never hides the others.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from lanekit.doctor.probe import Probe
from lanekit.doctor.report import CheckResult, DoctorReport


def run_doctor(base_url: str, model: str | None = None, *, engine: str | None = None,
               harness: str | None = None, metrics_url: str | None = None, only: list[str] | None = None,
               timeout_s: float = 180.0, max_tokens: int = 200,
               transport: httpx.BaseTransport | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> DoctorReport:
    """Run the checks (or `only` those named) on the lane at `base_url` (…/v1 optional).

    `model` defaults to the first model the server lists; `engine` is detected when omitted;
    `harness` ("hermes") sets the context floor. When /v1/models does not answer, the other
    checks are skipped: the verdict is already `fail`.
    `progress(name, i, total)` is called before each check runs.
    """
    from lanekit.doctor.checks import CHECKS

    probe = Probe(base_url, model=model, engine=engine, harness=harness, metrics_url=metrics_url,
                  timeout_s=timeout_s, max_tokens=max_tokens, transport=transport)
    report = DoctorReport(base_url=probe.base_url, model=model, engine=engine, harness=harness)
    try:
        for i, check in enumerate(CHECKS, 1):
            if only and check.NAME not in only and check.NAME != "models":
                continue
            applies = getattr(check, "applies", None)
            if applies is not None and not applies(probe):
                continue
            if progress is not None:
                progress(check.NAME, i, len(CHECKS))
            try:
                result = check.run(probe)
            except Exception as exc:  # noqa: BLE001  (a doctor bug must not hide the other checks)
                result = CheckResult(name=check.NAME, status="warn", detail=f"check crashed: {exc!r}",
                                     fix="report this lanekit bug")
            report.checks.append(result)
            if check.NAME == "models" and result.status == "fail" and probe.models().status != 200:
                break
    finally:
        probe.close()
    report.model = probe.model or (probe.model_ids()[0] if probe.model_ids() else None)
    report.engine = probe.engine
    return report


def doctor_lane(name: str, *, harness: str | None = None, **kwargs) -> DoctorReport:
    """Run the doctor on a live lane lanekit started, by name (URL, model and engine from its record)."""
    from lanekit.lanes import registry

    rec = registry.find_live(name)
    return run_doctor(rec.base_url, rec.model_id, engine=rec.engine, harness=harness,
                      metrics_url=rec.metrics_url, **kwargs)
