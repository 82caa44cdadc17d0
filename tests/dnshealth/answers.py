"""Observations built from `Answer` objects, as a check would gather them, for judging
without DNS: a healthy Microsoft 365 domain, and builders for each answer to change."""

from __future__ import annotations

import dataclasses
from typing import Any

from tenantcore.dnshealth.evaluate import Observations, SpfWalk
from tenantcore.dnshealth.findings import Severity
from tenantcore.dnshealth.lookup import Answer, Outcome
from tenantcore.dnshealth.records import Purpose
from tenantcore.dnshealth.report import HealthReport

from .m365 import expected_for

D = "acme-corp.com"
EXPECTED = expected_for(D)
SPF_BODY = "v=spf1 include:spf.protection.outlook.com"
SPF = f"{SPF_BODY} -all"
VERIFY = "MS=ms12345678"
OUR_MX = "acme-corp-com.mail.protection.outlook.com"
DMARC = EXPECTED.text_of(Purpose.DMARC)


def found(name: str, rtype: str, *values: str, alias: str | None = None) -> Answer:
    return Answer(name, rtype, Outcome.OK, values, alias=alias)


def failed(name: str, rtype: str, outcome: Outcome = Outcome.TIMEOUT, detail: str = "") -> Answer:
    return Answer(name, rtype, outcome, detail=detail)


def apex(*texts: str) -> Answer:
    return found(D, "TXT", *texts)


def mx(*hosts: str) -> Answer:
    return Answer(D, "MX", Outcome.OK, hosts, tuple((10 * i, host) for i, host in enumerate(hosts)))


def dmarc(*texts: str) -> Answer:
    return found(f"_dmarc.{D}", "TXT", *texts) if texts else failed(f"_dmarc.{D}", "TXT", Outcome.NXDOMAIN)


def selectors(**answers: Answer | str | None) -> dict[str, Answer]:
    """Both selector CNAMEs as Exchange issued them, except those given: a target, or None
    for no CNAME at all."""
    out = {}
    for selector, target in EXPECTED.dkim_targets.items():
        name = f"{selector}._domainkey.{D}"
        given = answers.get(selector, target)
        if isinstance(given, Answer):
            out[selector] = given
        else:
            out[selector] = found(name, "CNAME", given) if given else failed(name, "CNAME", Outcome.NXDOMAIN)
    return out


def healthy(**changes: Any) -> Observations:
    """A domain with every record Microsoft issued in place, then `changes` to its fields."""
    obs = Observations(
        domain=D,
        apex_txt=apex(VERIFY, SPF),
        mx=mx(OUR_MX),
        dmarc=dmarc(DMARC),
        selectors=selectors(),
        autodiscover=found(f"autodiscover.{D}", "CNAME", "autodiscover.outlook.com"),
        spf_walk=SpfWalk(lookups=1),
    )
    return dataclasses.replace(obs, **changes)


def codes(report: HealthReport, severity: Severity | None = None) -> set[str]:
    return {f.code for f in report.findings if severity is None or f.severity is severity}
