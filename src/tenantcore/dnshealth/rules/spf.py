"""SPF at the apex: one record, valid, ending in -all, covering Microsoft 365, within the DNS
lookup limits once its includes are followed (`Observations.spf_walk`)."""

from __future__ import annotations

from typing import Final

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.findings import Finding, Severity
from tenantcore.dnshealth.names import where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords, Purpose
from tenantcore.dnshealth.report import MISSING, UNKNOWN
from tenantcore.dnshealth.spf import MAX_LOOKUPS, MAX_VOID_LOOKUPS, is_spf, parse_spf

MICROSOFT_SPF_INCLUDE: Final = "spf.protection.outlook.com"
SPF_MAX_CHARS: Final = 450


def judge_spf(obs: Observations, expected: ExpectedRecords | None, mx_is_microsoft: bool) -> tuple[str, list[Finding]]:
    """(spf_status, findings). `mx_is_microsoft` (from `judge_mx`) decides, when Microsoft's
    values are not known, whether the domain sends through Microsoft 365 and so needs its include."""
    answer = obs.apex_txt
    if not answer.definite:
        return UNKNOWN, [unknown(catalogue.SPF_UNKNOWN, answer)]
    records = [text for text in answer.values if is_spf(text)]
    if not records:
        wanted = expected.text_of(Purpose.SPF) if expected else None
        return MISSING, [
            catalogue.SPF_MISSING(
                record=wanted or f"v=spf1 include:{MICROSOFT_SPF_INCLUDE} -all", where=where(obs.domain)
            )
        ]
    findings = [catalogue.SPF_MULTIPLE(count=len(records), name=obs.domain)] if len(records) > 1 else []
    text = records[0]
    record = parse_spf(text)
    for problem in record.problems:
        findings.append(catalogue.SPF_SYNTAX(term=problem.term, problem=problem.problem, fix=problem.fix))
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
            names = f" ({', '.join(walk.void_names)})" if walk.void_names else ""
            findings.append(catalogue.SPF_TOO_MANY_VOID_LOOKUPS(void_lookups=walk.void_lookups, names=names))
        for name, via, problem in walk.include_problems:
            findings.append(
                catalogue.SPF_INCLUDE_SYNTAX(
                    name=name, via=via, term=problem.term, problem=problem.problem, fix=problem.fix
                )
            )
        for term, name, count in walk.mx_too_many:
            findings.append(catalogue.SPF_MX_TOO_MANY_NAMES(term=term, name=name, count=count))
        if walk.broken:
            findings.append(catalogue.SPF_INCLUDE_BROKEN(names=", ".join(walk.broken)))
        if walk.loop:
            findings.append(catalogue.SPF_INCLUDE_LOOP())
        if walk.unknown:
            findings.append(catalogue.SPF_INCLUDE_UNKNOWN(names=", ".join(walk.unknown)))
    if not findings or all(f.severity in (Severity.INFO, Severity.UNKNOWN) for f in findings):
        findings.append(catalogue.SPF_OK())
    return text, findings
