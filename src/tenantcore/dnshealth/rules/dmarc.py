"""DMARC at `_dmarc.<domain>`: one valid record with an enforcing policy and aggregate reports.
When it is absent, the probes `check.py` made tell a record at a wrong name (the zone typed
twice, a missing underscore) from none at all."""

from __future__ import annotations

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.dmarc import REMOVED_TAGS, is_dmarc, looks_like_dmarc, parse_dmarc
from tenantcore.dnshealth.findings import Finding, Severity
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords, Purpose
from tenantcore.dnshealth.report import MISSING, UNKNOWN
from tenantcore.dnshealth.rules.common import first_record


def judge_dmarc(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, list[Finding]]:
    """(dmarc_status, findings)."""
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
    text, record, findings = first_record(
        records, parse_dmarc, catalogue.DMARC_MULTIPLE, catalogue.DMARC_SYNTAX, wanted
    )
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
