"""Findings, severities and a domain's grade."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"  # DNS did not answer: not checkable, never an alarm


# The one ranking of verdicts, best first. Unknown has no rank: DNS did not answer, which is
# neither better nor worse than a verdict. Keyed by the StrEnum, so plain strings (a grade read
# back from the database) look up the same entries.
SEVERITY_RANK: Final[Mapping[str, int]] = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.ERROR: 3}
# Healthy verdicts and problems; unknown is neither (the web app counts it apart, the CLI lists
# it beside the problems as something to look at).
HEALTHY: Final = (Severity.OK, Severity.INFO)
PROBLEMS: Final = (Severity.WARNING, Severity.ERROR)


def severity_rank(value: str | None, *, info_is_ok: bool = False) -> int | None:
    """The rank of a severity or grade (a `Severity` or its string), or None for unknown, for
    None and for anything that is not a severity: such values are not compared.

    `info_is_ok` ranks info with ok, for comparisons where both are simply healthy (a domain
    going from ok to info has not degraded)."""
    if value is None:
        return None
    if info_is_ok and value in HEALTHY:
        return SEVERITY_RANK[Severity.OK]
    return SEVERITY_RANK.get(value)


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
        elif SEVERITY_RANK[finding.severity] > SEVERITY_RANK[worst]:
            worst = finding.severity
    if unknown and SEVERITY_RANK[worst] < SEVERITY_RANK[Severity.WARNING]:
        return Severity.UNKNOWN
    return worst
