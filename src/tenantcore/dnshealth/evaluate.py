"""From DNS answers to the API's statuses and to findings, each with how to fix it.

Pure functions: `check.py` gathers the answers, this module judges them. When Microsoft's
own values are known (`ExpectedRecords`) they are compared exactly. Without them (a bare
`tenantcore check` on any domain) Microsoft's hosts are recognised by the patterns it is
known to issue, old and new formats alike (`../shared/reference/dns-health.md` §3).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.dmarc import REMOVED_TAGS, is_dmarc, looks_like_dmarc, parse_dmarc
from tenantcore.dnshealth.findings import Finding, Severity, grade
from tenantcore.dnshealth.lookup import Answer
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.dnshealth.observations import Observations, SpfWalk
from tenantcore.dnshealth.records import DKIM_SELECTORS, ExpectedRecords, Purpose
from tenantcore.dnshealth.report import MISSING, UNKNOWN, HealthReport
from tenantcore.dnshealth.spf import MAX_LOOKUPS, MAX_VOID_LOOKUPS, is_spf, parse_spf

# Recognisers used only when Microsoft's issued values are not known.
_MICROSOFT_MX = re.compile(r"(\.mail\.protection\.outlook\.com|\.mx\.microsoft)$")
_MICROSOFT_DKIM = re.compile(
    r"^selector(?P<n>[12])-[a-z0-9-]+\._domainkey\."
    r"(?:[a-z0-9-]+\.onmicrosoft\.com|[a-z0-9-]+\.[a-z]-v1\.dkim\.mail\.microsoft)$"
)
MICROSOFT_SPF_INCLUDE = "spf.protection.outlook.com"
SPF_MAX_CHARS = 450

# Re-exported: these lived here before `observations.py` and `report.py` held them.
__all__ = ["MISSING", "UNKNOWN", "HealthReport", "Observations", "SpfWalk", "evaluate"]


# --- SPF ---------------------------------------------------------------------------------


def _spf(obs: Observations, expected: ExpectedRecords | None, mx_is_microsoft: bool) -> tuple[str, list[Finding]]:
    answer = obs.apex_txt
    if not answer.definite:
        return UNKNOWN, [unknown(catalogue.SPF_UNKNOWN, answer)]
    records = [text for text in answer.values if is_spf(text)]
    wanted = expected.text_of(Purpose.SPF) if expected else None
    if not records:
        return MISSING, [catalogue.SPF_MISSING(record=wanted or f"v=spf1 include:{MICROSOFT_SPF_INCLUDE} -all")]
    findings: list[Finding] = []
    if len(records) > 1:
        findings.append(catalogue.SPF_MULTIPLE(count=len(records)))
    text = records[0]
    record = parse_spf(text)
    for error in record.errors:
        findings.append(catalogue.SPF_SYNTAX(error=error))
    qualifier = record.all_qualifier
    if qualifier == "+":
        findings.append(catalogue.SPF_PASS_ALL())
    elif qualifier == "?":
        findings.append(catalogue.SPF_NEUTRAL_ALL())
    elif qualifier is None and record.redirect is None:
        findings.append(catalogue.SPF_NO_ALL())
    elif qualifier == "~":
        findings.append(catalogue.SPF_SOFTFAIL_ALL())
    wanted_includes = expected.spf_includes if expected and expected.spf_includes else {MICROSOFT_SPF_INCLUDE}
    if mx_is_microsoft or expected is not None:
        missing = sorted(wanted_includes - set(record.includes))
        if missing and record.redirect is None:
            kind = (
                catalogue.SPF_MISSING_MICROSOFT_INCLUDE_BY_MX
                if expected is None
                else catalogue.SPF_MISSING_MICROSOFT_INCLUDE
            )
            findings.append(kind(missing=", ".join(missing), include=missing[0]))
    if record.uses_ptr:
        findings.append(catalogue.SPF_PTR())
    if len(text) > SPF_MAX_CHARS:
        findings.append(catalogue.SPF_TOO_LONG(length=len(text)))
    walk = obs.spf_walk
    if walk is not None:
        if walk.lookups > MAX_LOOKUPS:
            findings.append(catalogue.SPF_TOO_MANY_LOOKUPS(lookups=walk.lookups))
        if walk.void_lookups > MAX_VOID_LOOKUPS:
            findings.append(catalogue.SPF_TOO_MANY_VOID_LOOKUPS(void_lookups=walk.void_lookups))
        if walk.broken:
            findings.append(catalogue.SPF_INCLUDE_BROKEN(names=", ".join(walk.broken)))
        if walk.loop:
            findings.append(catalogue.SPF_INCLUDE_LOOP())
        if walk.unknown:
            findings.append(catalogue.SPF_INCLUDE_UNKNOWN(names=", ".join(walk.unknown)))
    if not findings or all(f.severity in (Severity.INFO, Severity.UNKNOWN) for f in findings):
        findings.append(catalogue.SPF_OK())
    return text, findings


# --- DMARC -------------------------------------------------------------------------------


def _dmarc(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, list[Finding]]:
    answer = obs.dmarc
    if not answer.definite:
        return UNKNOWN, [unknown(catalogue.DMARC_UNKNOWN, answer)]
    records = [text for text in answer.values if is_dmarc(text)]
    wanted = f"_dmarc.{obs.domain}"
    if not records:
        malformed = [text for text in answer.values if looks_like_dmarc(text)]
        if malformed:
            return MISSING, [catalogue.DMARC_NOT_DMARC1(name=wanted, record=malformed[0])]
        for probe in obs.dmarc_elsewhere:
            if probe.found and any(looks_like_dmarc(t) for t in probe.values):
                host = relative_to(wanted, registrable_zone(obs.domain))
                return MISSING, [catalogue.DMARC_WRONG_NAME(found=probe.name, name=wanted, host=host)]
        suggestion = (
            expected.text_of(Purpose.DMARC) if expected else "v=DMARC1; p=quarantine; rua=mailto:dmarc@" + obs.domain
        )
        return MISSING, [catalogue.DMARC_MISSING(name=wanted, record=suggestion)]
    findings: list[Finding] = []
    if len(records) > 1:
        findings.append(catalogue.DMARC_MULTIPLE(count=len(records), name=wanted))
    text = records[0]
    record = parse_dmarc(text)
    for error in record.errors:
        findings.append(catalogue.DMARC_SYNTAX(error=error))
    if (record.policy or "").lower() == "none":
        findings.append(catalogue.DMARC_POLICY_NONE())
    if "rua" not in record.tags:
        findings.append(catalogue.DMARC_NO_RUA())
    removed = sorted(REMOVED_TAGS & set(record.tags))
    if removed:
        findings.append(catalogue.DMARC_REMOVED_TAGS(tags=", ".join(removed)))
    if not any(f.severity in (Severity.WARNING, Severity.ERROR) for f in findings):
        findings.append(catalogue.DMARC_OK())
    return text, findings


# --- MX ----------------------------------------------------------------------------------


def _mx(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, bool, list[Finding]]:
    """Returns (mx_status, whether the MX is Microsoft's, findings)."""
    answer = obs.mx
    if not answer.definite:
        return UNKNOWN, False, [unknown(catalogue.MX_UNKNOWN, answer)]
    hosts = [host for _, host in answer.mx]
    wanted = expected.mx_hosts if expected else set()
    mx = f"MX 0 {sorted(wanted)[0]}" if wanted else catalogue.ANY_MICROSOFT_MX
    if not hosts:
        return MISSING, False, [catalogue.MX_MISSING(mx=mx)]
    if hosts == [""]:
        return MISSING, False, [catalogue.MX_NULL(mx=mx)]
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
        findings.append(catalogue.MX_NOT_EXPECTED(found=lookalike[0], issued=", ".join(sorted(wanted)), mx=mx))
    elif not ours:
        findings.append(catalogue.MX_NOT_MICROSOFT(hosts=", ".join(others), mx=mx))
    if (ours or lookalike) and others:
        findings.append(catalogue.MX_EXTRA_HOSTS(hosts=", ".join(others)))
    if not findings:
        findings.append(catalogue.MX_OK(host=status))
    return status, bool(ours or lookalike), findings


# --- DKIM --------------------------------------------------------------------------------


def _selector_ok(selector: str, target: str, expected: ExpectedRecords | None) -> bool:
    if expected and expected.dkim_targets.get(selector):
        return target == expected.dkim_targets[selector]
    match = _MICROSOFT_DKIM.match(target)
    return bool(match) and f"selector{match.group('n')}" == selector


def _dkim(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, dict[str, str], list[Finding]]:
    findings: list[Finding] = []
    states: dict[str, str] = {}
    wrong: list[str] = []
    for selector in DKIM_SELECTORS:
        answer = obs.selectors[selector]
        host = f"{selector}._domainkey"
        wanted = expected.dkim_targets.get(selector) if expected else None
        if not answer.definite:
            states[selector] = UNKNOWN
            findings.append(unknown(catalogue.DKIM_UNKNOWN, answer, selector=selector))
        elif answer.found:
            target = answer.values[0]
            if _selector_ok(selector, target, expected):
                states[selector] = "propagated"
            else:
                states[selector] = MISSING
                wrong.append(selector)
                issued = f" ({wanted})" if wanted else ""
                key = wanted or catalogue.any_dkim_key(selector)
                findings.append(catalogue.DKIM_SELECTOR_MISMATCH(host=host, found=target, issued=issued, key=key))
        else:
            states[selector] = MISSING
            probe = obs.selector_txt.get(selector)
            kind = (
                catalogue.DKIM_SELECTOR_NOT_CNAME
                if probe is not None and probe.found
                else catalogue.DKIM_SELECTOR_MISSING
            )
            findings.append(kind(host=host, key=wanted or catalogue.any_dkim_key(selector)))
    values = list(states.values())
    if values.count("propagated") == len(values):
        status = "healthy"
        findings.append(catalogue.DKIM_OK())
    elif UNKNOWN in values:
        status = UNKNOWN
    elif wrong:
        status = "mismatch (" + ", ".join(wrong) + ")"
    elif "propagated" in values:
        status = "partial"
    else:
        status = MISSING
    return status, states, findings


# --- the rest ----------------------------------------------------------------------------


def _apex(obs: Observations) -> list[Finding]:
    alias = obs.apex_txt.alias or obs.mx.alias
    if alias:
        return [catalogue.APEX_CNAME(alias=alias)]
    return []


def _verification(obs: Observations, expected: ExpectedRecords | None, is_verified: bool | None) -> list[Finding]:
    wanted = expected.verification_text if expected else None
    if wanted is None or not obs.apex_txt.definite:
        return []
    if wanted in obs.apex_txt.values:
        return [catalogue.VERIFICATION_OK(text=wanted)]
    if is_verified:
        return [catalogue.VERIFICATION_TXT_MISSING_ONCE_VERIFIED(text=wanted)]
    return [catalogue.VERIFICATION_TXT_MISSING(text=wanted)]


def _autodiscover(obs: Observations, expected: ExpectedRecords | None) -> list[Finding]:
    answer = obs.autodiscover
    record = expected.first(Purpose.AUTODISCOVER) if expected else None
    if answer is None or record is None:
        return []
    if not answer.definite:
        return [unknown(catalogue.AUTODISCOVER_UNKNOWN, answer)]
    if not answer.found:
        return [catalogue.AUTODISCOVER_MISSING(target=record.value)]
    if answer.values[0] != record.value:
        return [catalogue.AUTODISCOVER_MISMATCH(found=answer.values[0], target=record.value)]
    return [catalogue.AUTODISCOVER_OK()]


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
    mx_status, mx_is_microsoft, mx_findings = _mx(obs, expected)
    spf_status, spf_findings = _spf(obs, expected, mx_is_microsoft)
    dmarc_status, dmarc_findings = _dmarc(obs, expected)
    dkim_status, selectors, dkim_findings = _dkim(obs, expected)
    findings = [
        *_apex(obs),
        *_verification(obs, expected, is_verified),
        *spf_findings,
        *dkim_findings,
        *dmarc_findings,
        *mx_findings,
        *_autodiscover(obs, expected),
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
        ready_to_enable=all(state == "propagated" for state in selectors.values()),
        findings=findings,
        grade=grade(findings),
        fingerprint=_fingerprint(observed, answers),
        observed=observed,
    )
