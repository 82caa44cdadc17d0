"""DMARC at `_dmarc.<domain>`: one valid record with an enforcing policy and aggregate reports,
every tag's value within RFC 7489's and RFC 9989's grammar, and external report addresses that
agreed to receive the reports. When it is absent, the probes `check.py` made tell a record at a
wrong name (the zone typed twice, a missing underscore) from none at all, and for a subdomain,
which policy it inherits from its organizational domain's record."""

from __future__ import annotations

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.catalogue import unknown
from tenantcore.dnshealth.dmarc import (
    MAX_REPORT_AUTH_LOOKUPS,
    REMOVED_TAGS,
    DmarcRecord,
    external_report_hosts,
    is_dmarc,
    looks_like_dmarc,
    parse_dmarc,
    report_auth_name,
)
from tenantcore.dnshealth.findings import Finding, Severity
from tenantcore.dnshealth.lookup import Outcome
from tenantcore.dnshealth.names import registrable_zone, relative_to, where
from tenantcore.dnshealth.observations import Observations
from tenantcore.dnshealth.records import ExpectedRecords, Purpose, recommended_dmarc
from tenantcore.dnshealth.report import MISSING, UNKNOWN
from tenantcore.dnshealth.rules.common import first_record

_WHY = {
    "np": "its np= policy, for subdomains that do not exist in DNS",
    "sp": "its sp= policy, for subdomains",
    "p": "its p= policy, as it has no sp=",
}
_REPORTS = {"rua": "aggregate", "ruf": "failure"}


def judge_dmarc(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, list[Finding]]:
    """(dmarc_status, findings)."""
    answer = obs.dmarc
    if not answer.definite:
        return UNKNOWN, [unknown(catalogue.DMARC_UNKNOWN, answer)]
    records = [text for text in answer.values if is_dmarc(text)]
    wanted = f"_dmarc.{obs.domain}"
    if not records:
        return _absent(obs, expected, wanted)
    text, record, findings = first_record(
        records, parse_dmarc, catalogue.DMARC_MULTIPLE, catalogue.DMARC_SYNTAX, wanted
    )
    findings.extend(_policy_findings(record, wanted, obs.domain))
    if "rua" not in record.tags:
        findings.append(catalogue.DMARC_NO_RUA())
    removed = sorted(REMOVED_TAGS & set(record.tags))
    if removed:
        findings.append(catalogue.DMARC_REMOVED_TAGS(tags=", ".join(removed)))
    if len(records) == 1:
        findings.extend(_report_auth_findings(obs, record))
    if not any(f.severity in (Severity.WARNING, Severity.ERROR) for f in findings):
        findings.append(catalogue.DMARC_OK())
    return text, findings


def _policy_findings(record: DmarcRecord, name: str, domain: str) -> list[Finding]:
    """What each tag's value makes of the record: the policy, then every other tag."""
    findings: list[Finding] = []
    policy = record.policy
    if record.valid_policy is None:
        what = "no p= tag" if policy is None else f"p={policy}, which is not none, quarantine or reject"
        kind = catalogue.DMARC_NO_POLICY_AS_NONE if record.has_valid_rua else catalogue.DMARC_NO_POLICY
        findings.append(kind(name=name, what=what, domain=domain))
    elif record.valid_policy == "none":
        findings.append(catalogue.DMARC_POLICY_NONE())
    elif record.tags.get("t", "").lower() == "y":
        findings.append(catalogue.DMARC_TEST_MODE(policy=record.valid_policy))
    if policy is not None and len(record.order) > 1 and record.order[1] != "p" and record.order[0] == "v":
        findings.append(catalogue.DMARC_TAG_ORDER(order="; ".join(f"{t}=" for t in record.order)))
    for problem in record.tag_errors:
        findings.append(
            catalogue.DMARC_TAG_INVALID(
                tag=problem.tag, value=problem.value, allowed=problem.allowed, default=problem.default
            )
        )
    for uri in record.uri_errors:
        findings.append(
            catalogue.DMARC_REPORT_URI_INVALID(
                tag=uri.tag, uri=uri.uri, problem=uri.problem, reports=_REPORTS[uri.tag], domain=domain
            )
        )
    if record.unknown_tags:
        findings.append(catalogue.DMARC_UNKNOWN_TAG(tags=", ".join(f"{t}=" for t in record.unknown_tags)))
    return findings


def _report_auth_findings(obs: Observations, record: DmarcRecord) -> list[Finding]:
    """RFC 7489 §7.1 for each rua/ruf host outside the domain's organization; a lookup that
    failed, or was not made (beyond the cap), says only that it could not be verified."""
    findings: list[Finding] = []
    for index, (tag, host) in enumerate(external_report_hosts(record, obs.domain)):
        name = report_auth_name(obs.domain, host)
        answer = obs.dmarc_report_auth.get(host)
        if answer is None:
            reason = (
                f"not checked, as only {MAX_REPORT_AUTH_LOOKUPS} report domains are verified per check"
                if index >= MAX_REPORT_AUTH_LOOKUPS
                else f"TXT {name} was not looked up"
            )
            findings.append(catalogue.DMARC_REPORT_AUTH_UNKNOWN(host=host, tag=f"{tag}=", reason=reason))
        elif not answer.definite:
            reason = f"the lookup of TXT {name} failed ({answer.outcome.value})"
            findings.append(catalogue.DMARC_REPORT_AUTH_UNKNOWN(host=host, tag=f"{tag}=", reason=reason))
        elif not any(is_dmarc(text) for text in answer.values):
            findings.append(catalogue.DMARC_REPORT_UNAUTHORIZED(tag=tag, host=host, name=name))
    return findings


def _absent(obs: Observations, expected: ExpectedRecords | None, wanted: str) -> tuple[str, list[Finding]]:
    """No DMARC record at `_dmarc.<domain>`: a malformed or misplaced one, the organizational
    domain's record a subdomain inherits, or nothing at all."""
    answer = obs.dmarc
    malformed = [text for text in answer.values if looks_like_dmarc(text)]
    if malformed:
        return MISSING, [catalogue.DMARC_NOT_DMARC1(name=wanted, record=malformed[0])]
    zone = registrable_zone(obs.domain)
    for probe in obs.dmarc_elsewhere:
        if probe.found and any(looks_like_dmarc(t) for t in probe.values):
            host = relative_to(wanted, zone)
            return MISSING, [catalogue.DMARC_WRONG_NAME(found=probe.name, name=wanted, host=host)]
    suggestion = expected.text_of(Purpose.DMARC) if expected else None
    suggestion = suggestion or recommended_dmarc(obs.domain).value
    org = obs.dmarc_org
    if org is not None:
        if not org.definite:
            return UNKNOWN, [unknown(catalogue.DMARC_UNKNOWN, org)]
        inherited = [text for text in org.values if is_dmarc(text)]
        # Several records, or a broken v=, and receivers ignore the organizational domain's DMARC too.
        if len(inherited) == 1 and not parse_dmarc(inherited[0]).errors:
            org_record = parse_dmarc(inherited[0])
            policy, tag = org_record.subdomain_policy(exists=_exists(obs))
            why = _WHY[tag] if tag != "p" or org_record.valid_policy else "it has no valid p=, which reads as none"
            values = {"name": wanted, "where": where(wanted), "org_name": org.name, "tag": tag, "policy": policy}
            values["why"] = why
            if policy == "none":
                return MISSING, [catalogue.DMARC_INHERITED_NONE(record=suggestion, **values)]
            return MISSING, [catalogue.DMARC_INHERITED(**values)]
    return MISSING, [catalogue.DMARC_MISSING(name=wanted, where=where(wanted), record=suggestion)]


def _exists(obs: Observations) -> bool:
    """Whether the subdomain exists in DNS (np= applies to those that do not): NXDOMAIN for
    both its TXT and its MX."""
    return not all(a.outcome is Outcome.NXDOMAIN for a in (obs.apex_txt, obs.mx))
