"""MX: the domain receives its mail (replies, bounces) at Microsoft 365, and only there."""

from __future__ import annotations

import re

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.findings import Finding
from tenantcore.dnshealth.names import where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords
from tenantcore.dnshealth.report import MISSING, UNKNOWN

# Microsoft's MX hosts, old and new forms: used only when its issued values are not known.
_MICROSOFT_MX = re.compile(r"(\.mail\.protection\.outlook\.com|\.mx\.microsoft)$")


def judge_mx(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, bool, list[Finding]]:
    """(mx_status, whether the MX is Microsoft's, findings). The SPF rule needs the middle one."""
    answer = obs.mx
    if not answer.definite:
        return UNKNOWN, False, [unknown(catalogue.MX_UNKNOWN, answer)]
    hosts = [host for _, host in answer.mx]
    wanted = expected.mx_hosts if expected else set()
    mx = f"MX 0 {sorted(wanted)[0]}" if wanted else catalogue.ANY_MICROSOFT_MX
    if not hosts:
        return MISSING, False, [catalogue.MX_MISSING(mx=mx, where=where(obs.domain))]
    if hosts == [""]:
        return MISSING, False, [catalogue.MX_NULL(mx=mx, where=where(obs.domain))]
    status = hosts[0] + "."
    if wanted:
        ours = [h for h in hosts if h in wanted]
        lookalike = [h for h in hosts if h not in wanted and _MICROSOFT_MX.search(h)]
    else:
        ours = [h for h in hosts if _MICROSOFT_MX.search(h)]
        lookalike = []
    others = [h for h in hosts if h not in ours and h not in lookalike]
    findings: list[Finding] = []
    if not ours and lookalike:
        findings.append(
            catalogue.MX_NOT_EXPECTED(
                found=lookalike[0], issued=", ".join(sorted(wanted)), mx=mx, where=where(obs.domain)
            )
        )
    elif not ours:
        findings.append(catalogue.MX_NOT_MICROSOFT(hosts=", ".join(others), mx=mx, where=where(obs.domain)))
    if (ours or lookalike) and others:
        findings.append(catalogue.MX_EXTRA_HOSTS(hosts=", ".join(others)))
    if not findings:
        findings.append(catalogue.MX_OK(host=status))
    return status, bool(ours or lookalike), findings
