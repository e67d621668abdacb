"""Live checks on a serving lane, each pass / warn / fail with the exact fix for that engine.

    run_doctor(base_url, model=None, *, engine=None, harness=None, metrics_url=None) -> DoctorReport

The bakeoff runs it before every lane; a `fail` verdict disqualifies the lane with
`report.reason()`.
"""

from lanekit.doctor.checks import CHECK_NAMES
from lanekit.doctor.report import SCHEMA_VERSION, CheckResult, DoctorReport
from lanekit.doctor.runner import doctor_lane, run_doctor

__all__ = ["CHECK_NAMES", "SCHEMA_VERSION", "CheckResult", "DoctorReport", "doctor_lane", "run_doctor"]
