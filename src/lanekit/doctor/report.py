"""The doctor's stable output: checks with pass / warn / fail, the fix for each, one verdict.

JSON (documented, `schema_version` 1):
    {"schema_version": 1, "base_url", "model", "engine", "harness",
     "checks": [{"name", "status": "pass|warn|fail", "detail", "fix"}], "verdict": "pass|warn|fail"}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

Status = Literal["pass", "warn", "fail"]
SCHEMA_VERSION = 1


class CheckResult(BaseModel):
    """One check: what was seen (`detail`) and, unless it passed, the exact fix."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class DoctorReport(BaseModel):
    """All checks on one lane; `verdict` is the worst status (a fail disqualifies the lane)."""

    schema_version: int = SCHEMA_VERSION
    base_url: str
    model: str | None = None
    engine: str | None = None
    harness: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Status:
        statuses = {c.status for c in self.checks}
        if not self.checks or "fail" in statuses:
            return "fail"
        return "warn" if "warn" in statuses else "pass"

    def check(self, name: str) -> CheckResult | None:
        """The result of the named check, None when it did not run."""
        return next((c for c in self.checks if c.name == name), None)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def reason(self) -> str:
        """One line for a disqualified lane: the failed checks and their fixes."""
        return "; ".join(f"{c.name}: {c.detail}" + (f" (fix: {c.fix})" if c.fix else "") for c in self.failures)

    def stable_json(self) -> dict:
        """The documented JSON shape (checks + verdict + context fields)."""
        return self.model_dump(mode="json")
