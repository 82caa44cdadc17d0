"""Findings, severities and a domain's grade."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"  # DNS did not answer: not checkable, never an alarm


_RANK = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    area: str  # spf, dkim, dmarc, mx, verification, apex, autodiscover
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies and was a tenth of a worker batch.
        return {
            "code": self.code,
            "severity": self.severity.value,
            "area": self.area,
            "message": self.message,
            "fix": self.fix,
        }


def grade(findings: Iterable[Finding]) -> Severity:
    """The worst finding. A domain with unknowns and nothing worse than info is `unknown`
    (we cannot call it healthy), but an unknown never outranks a real warning or error."""
    worst = Severity.OK
    unknown = False
    for finding in findings:
        if finding.severity is Severity.UNKNOWN:
            unknown = True
        elif _RANK[finding.severity] > _RANK[worst]:
            worst = finding.severity
    if unknown and _RANK[worst] < _RANK[Severity.WARNING]:
        return Severity.UNKNOWN
    return worst
