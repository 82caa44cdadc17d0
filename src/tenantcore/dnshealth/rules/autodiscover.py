"""Autodiscover: the CNAME Outlook clients follow, judged only when Microsoft lists one."""

from __future__ import annotations

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.findings import Finding
from tenantcore.dnshealth.names import where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords, Purpose


def judge_autodiscover(obs: Observations, expected: ExpectedRecords | None) -> list[Finding]:
    answer = obs.autodiscover
    record = expected.first(Purpose.AUTODISCOVER) if expected else None
    if answer is None or record is None:
        return []
    if not answer.definite:
        return [unknown(catalogue.AUTODISCOVER_UNKNOWN, answer)]
    if not answer.found:
        return [catalogue.AUTODISCOVER_MISSING(target=record.value, where=where(record.name))]
    if answer.values[0] != record.value:
        return [catalogue.AUTODISCOVER_MISMATCH(found=answer.values[0], target=record.value, where=where(record.name))]
    return [catalogue.AUTODISCOVER_OK()]
