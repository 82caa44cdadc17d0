"""DKIM: both selector CNAMEs point at the keys Exchange issued. Their states decide whether
DKIM signing can be enabled (`HealthReport.ready_to_enable`)."""

from __future__ import annotations

import re

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.findings import Finding
from tenantcore.dnshealth.names import where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import DKIM_SELECTORS, ExpectedRecords
from tenantcore.dnshealth.report import MISSING, PROPAGATED, UNKNOWN

# Microsoft's DKIM targets, old (onmicrosoft.com) and new (dkim.mail.microsoft) formats: used
# only when Exchange's values are not known.
_MICROSOFT_DKIM = re.compile(
    r"^selector(?P<n>[12])-[a-z0-9-]+\._domainkey\."
    r"(?:[a-z0-9-]+\.onmicrosoft\.com|[a-z0-9-]+\.[a-z]-v1\.dkim\.mail\.microsoft)$"
)


def _selector_ok(selector: str, target: str, expected: ExpectedRecords | None) -> bool:
    if expected and expected.dkim_targets.get(selector):
        return target == expected.dkim_targets[selector]
    match = _MICROSOFT_DKIM.match(target)
    return bool(match) and f"selector{match.group('n')}" == selector  # selector1 must not point at key 2


def judge_dkim(
    obs: Observations, expected: ExpectedRecords | None, is_verified: bool | None = None
) -> tuple[str, dict[str, str], list[Finding]]:
    """(dkim_status, each selector's state, findings). A domain Microsoft has not verified yet,
    whose DKIM keys are not issued, is missing its CNAMEs as expected: an info, not an error
    (nobody can publish them yet; a report that says "error" there sends operators hunting)."""
    not_issued = is_verified is False and not (expected and any(expected.dkim_targets.values()))
    findings: list[Finding] = []
    states: dict[str, str] = {}
    wrong: list[str] = []
    for selector in DKIM_SELECTORS:
        answer = obs.selectors[selector]
        name = f"{selector}._domainkey.{obs.domain}"
        wanted = expected.dkim_targets.get(selector) if expected else None
        if not answer.definite:
            states[selector] = UNKNOWN
            findings.append(unknown(catalogue.DKIM_UNKNOWN, answer, selector=selector))
        elif answer.found:
            target = answer.values[0]
            if _selector_ok(selector, target, expected):
                states[selector] = PROPAGATED
            else:
                states[selector] = MISSING
                wrong.append(selector)
                issued = f" ({wanted})" if wanted else ""
                key = wanted or catalogue.any_dkim_key(selector)
                findings.append(
                    catalogue.DKIM_SELECTOR_MISMATCH(name=name, where=where(name), found=target, issued=issued, key=key)
                )
        else:
            states[selector] = MISSING
            probe = obs.selector_txt.get(selector)  # a TXT where the CNAME belongs
            if probe is not None and probe.found:
                kind = catalogue.DKIM_SELECTOR_NOT_CNAME
            elif not_issued:
                findings.append(catalogue.DKIM_SELECTOR_NOT_ISSUED(name=name))
                continue
            else:
                kind = catalogue.DKIM_SELECTOR_MISSING
            findings.append(kind(name=name, where=where(name), key=wanted or catalogue.any_dkim_key(selector)))
    values = list(states.values())
    if values.count(PROPAGATED) == len(values):
        status = "healthy"
        findings.append(catalogue.DKIM_OK())
    elif UNKNOWN in values:
        status = UNKNOWN
    elif wrong:
        status = "mismatch (" + ", ".join(wrong) + ")"
    elif PROPAGATED in values:
        status = "partial"
    else:
        status = MISSING
    return status, states, findings
