"""From DNS answers to the API's statuses and to findings, each with how to fix it.

Pure: `check.py` gathers the answers (`Observations`), the rules (`rules/`, one module per
protocol, over the findings in `catalogue.py`) judge them, and `evaluate` puts their verdicts
into one `HealthReport`, with what was observed and a fingerprint of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from tenantcore.dnshealth.findings import grade
from tenantcore.dnshealth.lookup import Answer
from tenantcore.dnshealth.observations import Observations, SpfWalk
from tenantcore.dnshealth.records import ExpectedRecords
from tenantcore.dnshealth.report import MISSING, PROPAGATED, UNKNOWN, HealthReport
from tenantcore.dnshealth.rules import (
    judge_autodiscover,
    judge_blocklists,
    judge_dkim,
    judge_dmarc,
    judge_mx,
    judge_spf,
    judge_verification,
)
from tenantcore.dnshealth.rules.spf import MICROSOFT_SPF_INCLUDE, SPF_MAX_CHARS

# Re-exported: these names were defined here before the split, and callers import them from here.
__all__ = [
    "MICROSOFT_SPF_INCLUDE",
    "MISSING",
    "SPF_MAX_CHARS",
    "UNKNOWN",
    "HealthReport",
    "Observations",
    "SpfWalk",
    "evaluate",
]


def _observed(obs: Observations) -> dict[str, Any]:
    def values(answer: Answer | None) -> list[str] | str | None:
        if answer is None:
            return None
        return sorted(answer.values) if answer.definite else answer.outcome.value

    return {
        "apex_txt": values(obs.apex_txt),
        "apex_alias": obs.apex_txt.alias or obs.mx.alias,
        "mx": [f"{pref} {host}." for pref, host in obs.mx.mx] if obs.mx.definite else obs.mx.outcome.value,
        "dmarc": values(obs.dmarc),
        **{f"dkim_{s}": values(a) for s, a in obs.selectors.items()},
        "autodiscover": values(obs.autodiscover),
    }


def _fingerprint(observed: dict[str, Any], answers: list[Answer | None]) -> str | None:
    """A short hash of what DNS said, to notice changes; None when some answer was unknown,
    since a change could then not be told from a failed lookup."""
    if any(a is not None and not a.definite for a in answers):
        return None
    blob = json.dumps(observed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def evaluate(
    obs: Observations,
    expected: ExpectedRecords | None = None,
    is_verified: bool | None = None,
    checked_at: datetime | None = None,
) -> HealthReport:
    """Judge one domain's observations. `expected` holds Microsoft's issued values when known;
    `is_verified` says whether Microsoft already verified the domain (the verification TXT
    then no longer matters much)."""
    mx_status, mx_is_microsoft, mx_findings = judge_mx(obs, expected)
    spf_status, spf_findings = judge_spf(obs, expected, mx_is_microsoft)
    dmarc_status, dmarc_findings = judge_dmarc(obs, expected)
    dkim_status, selectors, dkim_findings = judge_dkim(obs, expected, is_verified)
    blocklist_status, blocklist_findings = judge_blocklists(obs)
    findings = [
        *judge_verification(obs, expected, is_verified),
        *spf_findings,
        *dkim_findings,
        *dmarc_findings,
        *mx_findings,
        *judge_autodiscover(obs, expected),
        *blocklist_findings,
    ]
    observed = _observed(obs)
    answers = [obs.apex_txt, obs.mx, obs.dmarc, *obs.selectors.values(), obs.autodiscover]
    return HealthReport(
        domain=obs.domain,
        checked_at=checked_at or datetime.now(UTC),
        spf_status=spf_status,
        dkim_status=dkim_status,
        dmarc_status=dmarc_status,
        mx_status=mx_status,
        selectors=selectors,
        ready_to_enable=all(state == PROPAGATED for state in selectors.values()),
        findings=findings,
        grade=grade(findings),
        fingerprint=_fingerprint(observed, answers),
        observed=observed,
        blocklist_status=blocklist_status,
        blocklists=obs.blocklists,
        blocklists_reused=obs.blocklists_reused,
    )
