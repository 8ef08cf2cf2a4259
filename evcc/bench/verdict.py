"""PASS/FAIL of a bench scenario (SERVICE.md "verdicts per scenario, suitable for CI"): the expected outcome
(``completed``: ended normally with SessionStop; ``stopped``: ended early but in order with SessionStop;
``failed``: anything else) with an optional regular expression the end reason must contain and the stage it
must end in (``SLAC``, ``SDP``, ``connection``, ``SupportedAppProtocol`` or the response the machine waited
for, like ``CableCheckRes``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evcc.bench.report import BenchReport
from evcc.errors import ConfigError

OUTCOMES = ("completed", "stopped", "failed")


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str = "completed"
    reason: str | None = None  # regular expression searched in the end reason
    stage: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ConfigError(f"expect.outcome={self.outcome!r}: one of {OUTCOMES}")
        if self.reason is not None:
            try:
                re.compile(self.reason)
            except re.error as exc:
                raise ConfigError(f"expect.reason={self.reason!r}: not a regular expression ({exc})") from None


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    outcome: str
    stage: str
    reason: str
    why: str  # what differed, or what matched

    @property
    def word(self) -> str:
        return "PASS" if self.passed else "FAIL"


def outcome_of(report: BenchReport) -> tuple[str, str]:
    """(outcome, stage) of a finished run."""
    if not report.slac.matched:
        stage = "SLAC"
    elif not report.sdp.found:
        stage = "SDP"
    elif report.end_state is None and report.end_reason.startswith("connection"):
        stage = "connection"
    else:
        stage = report.end_state or "SupportedAppProtocol"
    if report.ok and report.end_kind == "completed":
        return "completed", stage
    if report.ok and report.end_kind == "stopped":
        return "stopped", stage
    return "failed", stage


def judge(expect: Expect, report: BenchReport) -> Verdict:
    outcome, stage = outcome_of(report)
    reason = report.end_reason
    problems = []
    if outcome != expect.outcome:
        problems.append(f"expected {expect.outcome}, got {outcome}")
    if expect.stage is not None and stage.lower() != expect.stage.lower():
        problems.append(f"expected stage {expect.stage}, got {stage}")
    if expect.reason is not None and re.search(expect.reason, reason) is None:
        problems.append(f"reason does not match /{expect.reason}/")
    if report.limit_violations:  # issue 19: never a request above what the charger allows
        problems.append(f"the EV asked for more than the charger allowed: {report.limit_violations[0]}")
    if problems:
        return Verdict(False, outcome, stage, reason, "; ".join(problems))
    return Verdict(True, outcome, stage, reason, f"{outcome} at {stage} as expected")
