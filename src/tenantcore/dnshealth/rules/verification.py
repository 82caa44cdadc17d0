"""The apex itself: Microsoft's verification TXT, and no CNAME hiding the apex's records."""

from __future__ import annotations

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.findings import Finding
from tenantcore.dnshealth.names import where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords


def judge_verification(obs: Observations, expected: ExpectedRecords | None, is_verified: bool | None) -> list[Finding]:
    """An apex CNAME first (it hides everything else at the apex), then the verification TXT,
    judged only when Microsoft's value is known and the apex answered."""
    findings: list[Finding] = []
    alias = obs.apex_txt.alias or obs.mx.alias
    if alias:
        findings.append(catalogue.APEX_CNAME(alias=alias))
    wanted = expected.verification_text if expected else None
    if wanted is None or not obs.apex_txt.definite:
        return findings
    if wanted in obs.apex_txt.values:
        findings.append(catalogue.VERIFICATION_OK(text=wanted))
    elif is_verified:  # it only matters again if the domain moves tenant
        findings.append(catalogue.VERIFICATION_TXT_MISSING_ONCE_VERIFIED(text=wanted))
    else:
        findings.append(catalogue.VERIFICATION_TXT_MISSING(text=wanted, where=where(obs.domain)))
    return findings
