"""A domain's health report: the spec's status fields, the findings and their grade.

`STATUS_FIELDS` is the one list of the live-DNS status fields; the report's
`status_fields()`, its dict and the CLI's CSV all follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Final

from tenantcore.dnshealth.blocklists import BlocklistResult
from tenantcore.dnshealth.findings import Finding, Severity

# Statuses a field takes besides the record it found (or "healthy", "partial"... for DKIM).
MISSING: Final = "missing"
UNKNOWN: Final = "unknown"  # DNS did not answer: never reported as missing
PROPAGATED: Final = "propagated"  # a DKIM selector's state when its CNAME is right

# The spec's live-DNS fields for the domain list, in the order the API and CSV show them.
STATUS_FIELDS: Final = ("spf_status", "dkim_status", "dmarc_status", "mx_status", "last_checked")
_status_values = attrgetter(*STATUS_FIELDS)  # one C call per report instead of five getattrs


@dataclass(slots=True)
class HealthReport:
    domain: str
    checked_at: datetime
    spf_status: str
    dkim_status: str
    dmarc_status: str
    mx_status: str
    selectors: dict[str, str]
    ready_to_enable: bool
    findings: list[Finding]
    grade: Severity
    fingerprint: str | None  # None when some answer was unknown: no change can be claimed
    observed: dict[str, Any]
    # Domain blocklists (beside the spec's fields): listed, clean or unknown, and each list's
    # answer; None and empty when no list was asked (turned off). Not part of `observed` or the
    # fingerprint: a listing is not a change to the domain's records, it has events of its own.
    blocklist_status: str | None = None
    blocklists: list[BlocklistResult] = field(default_factory=list)
    blocklists_reused: bool = False  # carried over from the last time the lists were asked

    @property
    def last_checked(self) -> str:
        return self.checked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def status_fields(self) -> dict[str, str]:
        """The spec's live-DNS fields for the domain list (`STATUS_FIELDS`)."""
        return dict(zip(STATUS_FIELDS, _status_values(self), strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            **self.status_fields(),
            "selectors": self.selectors,
            "ready_to_enable": self.ready_to_enable,
            "grade": self.grade.value,
            "fingerprint": self.fingerprint,
            "findings": [f.to_dict() for f in self.findings],
            "observed": self.observed,
            "blocklist_status": self.blocklist_status,
            "blocklists": [b.to_dict() for b in self.blocklists],
        }
