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


def _unknown(area: str, answer: Answer, what: str) -> Finding:
    return Finding(
        f"{area}_unknown",
        Severity.UNKNOWN,
        area,
        f"Could not read {what} ({answer.name} {answer.rtype}: {answer.outcome.value}"
        f"{', ' + answer.detail if answer.detail else ''}); it is not reported as missing.",
        "Nothing to fix yet: the next check retries. If it persists, check the domain's "
        "nameservers answer (lame delegation, expired domain, firewall).",
    )


# --- SPF ---------------------------------------------------------------------------------


def _spf(obs: Observations, expected: ExpectedRecords | None, mx_is_microsoft: bool) -> tuple[str, list[Finding]]:
    answer = obs.apex_txt
    if not answer.definite:
        return UNKNOWN, [_unknown("spf", answer, "the SPF record")]
    records = [text for text in answer.values if is_spf(text)]
    wanted = expected.text_of(Purpose.SPF) if expected else None
    if not records:
        wanted = wanted or f"v=spf1 include:{MICROSOFT_SPF_INCLUDE} -all"
        fix = f"Publish one TXT record at the apex: {wanted}"
        return MISSING, [Finding("spf_missing", Severity.ERROR, "spf", "No SPF record.", fix)]
    findings: list[Finding] = []
    if len(records) > 1:
        findings.append(
            Finding(
                "spf_multiple",
                Severity.ERROR,
                "spf",
                f"{len(records)} SPF records: receivers treat this as a permanent error and SPF fails.",
                "Merge them into one v=spf1 record (combine the include: terms) and delete the rest.",
            )
        )
    text = records[0]
    record = parse_spf(text)
    for error in record.errors:
        findings.append(
            Finding(
                "spf_syntax",
                Severity.ERROR,
                "spf",
                f"SPF syntax error: {error}.",
                "Correct the record; receivers return permerror on syntax errors.",
            )
        )
    qualifier = record.all_qualifier
    if qualifier == "+":
        findings.append(
            Finding(
                "spf_pass_all",
                Severity.ERROR,
                "spf",
                "SPF ends in +all: anyone may send as this domain.",
                "End the record with -all (or ~all).",
            )
        )
    elif qualifier == "?":
        findings.append(
            Finding(
                "spf_neutral_all",
                Severity.WARNING,
                "spf",
                "SPF ends in ?all, which asserts nothing about other senders.",
                "End the record with -all (or ~all).",
            )
        )
    elif qualifier is None and record.redirect is None:
        findings.append(
            Finding(
                "spf_no_all",
                Severity.WARNING,
                "spf",
                "SPF has no 'all' term, so it defaults to neutral.",
                "End the record with -all (or ~all).",
            )
        )
    elif qualifier == "~":
        findings.append(
            Finding(
                "spf_softfail_all",
                Severity.INFO,
                "spf",
                "SPF ends in ~all (soft fail).",
                "Fine while warming up; -all is stricter once all senders are listed.",
            )
        )
    wanted_includes = expected.spf_includes if expected and expected.spf_includes else {MICROSOFT_SPF_INCLUDE}
    if mx_is_microsoft or expected is not None:
        missing = sorted(wanted_includes - set(record.includes))
        if missing and record.redirect is None:
            findings.append(
                Finding(
                    "spf_missing_microsoft_include",
                    Severity.WARNING if expected is None else Severity.ERROR,
                    "spf",
                    f"SPF does not include {', '.join(missing)}: mail sent through Microsoft 365 fails SPF.",
                    f"Add include:{missing[0]} before the all term.",
                )
            )
    if record.uses_ptr:
        findings.append(
            Finding(
                "spf_ptr",
                Severity.WARNING,
                "spf",
                "SPF uses the ptr mechanism, which RFC 7208 says not to use.",
                "Replace ptr with ip4:/ip6: or include: terms.",
            )
        )
    if len(text) > SPF_MAX_CHARS:
        findings.append(
            Finding(
                "spf_too_long",
                Severity.WARNING,
                "spf",
                f"SPF is {len(text)} characters; answers this large risk truncation.",
                "Remove unused includes or flatten them.",
            )
        )
    walk = obs.spf_walk
    if walk is not None:
        if walk.lookups > MAX_LOOKUPS:
            findings.append(
                Finding(
                    "spf_too_many_lookups",
                    Severity.ERROR,
                    "spf",
                    f"SPF needs {walk.lookups} DNS lookups (includes followed); the limit is {MAX_LOOKUPS}, "
                    "beyond which receivers return permerror.",
                    "Remove includes for services that no longer send, or flatten some into ip4:/ip6:.",
                )
            )
        if walk.void_lookups > MAX_VOID_LOOKUPS:
            findings.append(
                Finding(
                    "spf_too_many_void_lookups",
                    Severity.ERROR,
                    "spf",
                    f"SPF makes {walk.void_lookups} lookups that find nothing; the limit is {MAX_VOID_LOOKUPS}.",
                    "Remove includes of names that do not exist or publish no SPF.",
                )
            )
        if walk.broken:
            findings.append(
                Finding(
                    "spf_include_broken",
                    Severity.ERROR,
                    "spf",
                    f"Included name(s) without exactly one SPF record: {', '.join(walk.broken)}.",
                    "Remove or correct those include: terms.",
                )
            )
        if walk.loop:
            findings.append(
                Finding(
                    "spf_include_loop",
                    Severity.ERROR,
                    "spf",
                    "SPF includes loop back on themselves.",
                    "Remove the circular include.",
                )
            )
        if walk.unknown:
            findings.append(
                Finding(
                    "spf_include_unknown",
                    Severity.UNKNOWN,
                    "spf",
                    f"Could not read included SPF record(s): {', '.join(walk.unknown)}; "
                    "the lookup count is incomplete.",
                    None,
                )
            )
    if not findings or all(f.severity in (Severity.INFO, Severity.UNKNOWN) for f in findings):
        findings.append(Finding("spf_ok", Severity.OK, "spf", "One valid SPF record covering Microsoft 365."))
    return text, findings


# --- DMARC -------------------------------------------------------------------------------


def _dmarc(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, list[Finding]]:
    answer = obs.dmarc
    if not answer.definite:
        return UNKNOWN, [_unknown("dmarc", answer, "the DMARC record")]
    records = [text for text in answer.values if is_dmarc(text)]
    wanted = f"_dmarc.{obs.domain}"
    if not records:
        malformed = [text for text in answer.values if looks_like_dmarc(text)]
        if malformed:
            return MISSING, [
                Finding(
                    "dmarc_syntax",
                    Severity.ERROR,
                    "dmarc",
                    f"The record at {wanted} does not start with v=DMARC1: {malformed[0]!r}.",
                    "Rewrite it starting with v=DMARC1; e.g. v=DMARC1; p=quarantine; rua=mailto:...",
                )
            ]
        for probe in obs.dmarc_elsewhere:
            if probe.found and any(looks_like_dmarc(t) for t in probe.values):
                return MISSING, [
                    Finding(
                        "dmarc_wrong_name",
                        Severity.ERROR,
                        "dmarc",
                        f"A DMARC record is published at {probe.name} instead of {wanted}.",
                        f"Publish it at host {relative_to(wanted, registrable_zone(obs.domain))} "
                        "(many DNS hosts append the zone to the host you type: enter the host "
                        "without the zone) and delete the misplaced one.",
                    )
                ]
        suggestion = (
            expected.text_of(Purpose.DMARC) if expected else "v=DMARC1; p=quarantine; rua=mailto:dmarc@" + obs.domain
        )
        return MISSING, [
            Finding(
                "dmarc_missing",
                Severity.ERROR,
                "dmarc",
                "No DMARC record: Outlook.com, Gmail and Yahoo reject bulk mail from domains without one.",
                f"Publish TXT at {wanted}: {suggestion}",
            )
        ]
    findings: list[Finding] = []
    if len(records) > 1:
        findings.append(
            Finding(
                "dmarc_multiple",
                Severity.ERROR,
                "dmarc",
                f"{len(records)} DMARC records at {wanted}: receivers then ignore DMARC entirely.",
                "Keep one record and delete the others.",
            )
        )
    text = records[0]
    record = parse_dmarc(text)
    for error in record.errors:
        findings.append(
            Finding(
                "dmarc_syntax",
                Severity.ERROR,
                "dmarc",
                f"DMARC syntax error: {error}.",
                "Correct the record, e.g. v=DMARC1; p=quarantine; rua=mailto:...",
            )
        )
    if (record.policy or "").lower() == "none":
        findings.append(
            Finding(
                "dmarc_policy_none",
                Severity.WARNING,
                "dmarc",
                "DMARC policy is p=none: it reports but protects nothing.",
                "Move to p=quarantine (then p=reject) once reports show your mail passes.",
            )
        )
    if "rua" not in record.tags:
        findings.append(
            Finding(
                "dmarc_no_rua",
                Severity.WARNING,
                "dmarc",
                "DMARC has no rua= address, so no aggregate reports are sent.",
                "Add rua=mailto:<address you read>.",
            )
        )
    removed = sorted(REMOVED_TAGS & set(record.tags))
    if removed:
        findings.append(
            Finding(
                "dmarc_removed_tags",
                Severity.INFO,
                "dmarc",
                f"DMARC uses tags removed by RFC 9989: {', '.join(removed)}.",
                "They are ignored by newer receivers; drop them.",
            )
        )
    if not any(f.severity in (Severity.WARNING, Severity.ERROR) for f in findings):
        findings.append(Finding("dmarc_ok", Severity.OK, "dmarc", "One valid DMARC record with enforcement."))
    return text, findings


# --- MX ----------------------------------------------------------------------------------


def _mx(obs: Observations, expected: ExpectedRecords | None) -> tuple[str, bool, list[Finding]]:
    """Returns (mx_status, whether the MX is Microsoft's, findings)."""
    answer = obs.mx
    if not answer.definite:
        return UNKNOWN, False, [_unknown("mx", answer, "the MX record")]
    hosts = [host for _, host in answer.mx]
    wanted = expected.mx_hosts if expected else set()
    fix = f"Publish MX 0 {sorted(wanted)[0]}" if wanted else "Publish the MX record Microsoft 365 lists for this domain"
    if not hosts:
        return (
            MISSING,
            False,
            [
                Finding(
                    "mx_missing",
                    Severity.ERROR,
                    "mx",
                    "No MX record: replies and bounces to this domain are lost.",
                    fix,
                )
            ],
        )
    if hosts == [""]:
        return (
            MISSING,
            False,
            [
                Finding(
                    "mx_null",
                    Severity.ERROR,
                    "mx",
                    "Null MX (RFC 7505): the domain says it receives no mail.",
                    fix,
                )
            ],
        )
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
            Finding(
                "mx_not_expected",
                Severity.WARNING,
                "mx",
                f"MX points at Microsoft ({lookalike[0]}) but not at the host Microsoft issued for this "
                f"domain ({', '.join(sorted(wanted))}).",
                fix,
            )
        )
    elif not ours:
        findings.append(
            Finding(
                "mx_not_microsoft",
                Severity.ERROR,
                "mx",
                f"MX points at {', '.join(others)}, not at Microsoft 365.",
                fix,
            )
        )
    if (ours or lookalike) and others:
        findings.append(
            Finding(
                "mx_extra_hosts",
                Severity.WARNING,
                "mx",
                f"Extra MX hosts besides Microsoft's: {', '.join(others)}.",
                "Remove MX records that do not point at Microsoft 365.",
            )
        )
    if not findings:
        findings.append(Finding("mx_ok", Severity.OK, "mx", f"MX points at Microsoft 365 ({status})."))
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
        fix = (
            f"Publish CNAME {host} → {wanted}"
            if wanted
            else f"Publish CNAME {host} → the Selector{selector[-1]}CNAME value Get-DkimSigningConfig shows"
        )
        if not answer.definite:
            states[selector] = UNKNOWN
            findings.append(_unknown("dkim", answer, f"the {selector} CNAME"))
        elif answer.found:
            target = answer.values[0]
            if _selector_ok(selector, target, expected):
                states[selector] = "propagated"
            else:
                states[selector] = MISSING
                wrong.append(selector)
                findings.append(
                    Finding(
                        "dkim_selector_mismatch",
                        Severity.ERROR,
                        "dkim",
                        f"{host} points at {target}, not at Microsoft's DKIM key"
                        f"{' (' + wanted + ')' if wanted else ''}.",
                        fix,
                    )
                )
        else:
            states[selector] = MISSING
            probe = obs.selector_txt.get(selector)
            if probe is not None and probe.found:
                findings.append(
                    Finding(
                        "dkim_selector_not_cname",
                        Severity.ERROR,
                        "dkim",
                        f"{host} is a TXT record, not the CNAME Microsoft 365 needs.",
                        f"Delete the TXT. {fix}",
                    )
                )
            else:
                findings.append(Finding("dkim_selector_missing", Severity.ERROR, "dkim", f"No CNAME at {host}.", fix))
    values = list(states.values())
    if values.count("propagated") == len(values):
        status = "healthy"
        findings.append(Finding("dkim_ok", Severity.OK, "dkim", "Both DKIM selector CNAMEs point at Microsoft 365."))
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
        return [
            Finding(
                "apex_cname",
                Severity.ERROR,
                "apex",
                f"The domain itself is a CNAME (to {alias}): it hides the MX, SPF and "
                "verification records a mail domain needs.",
                "Delete the apex CNAME; use a CNAME only on a subdomain such as track.",
            )
        ]
    return []


def _verification(obs: Observations, expected: ExpectedRecords | None, is_verified: bool | None) -> list[Finding]:
    wanted = expected.verification_text if expected else None
    if wanted is None or not obs.apex_txt.definite:
        return []
    if wanted in obs.apex_txt.values:
        return [
            Finding(
                "verification_ok",
                Severity.OK,
                "verification",
                f"Microsoft's verification TXT ({wanted}) is published.",
            )
        ]
    if is_verified:
        return [
            Finding(
                "verification_txt_missing",
                Severity.INFO,
                "verification",
                f"The verification TXT ({wanted}) is not published; the domain is already "
                "verified, so this only matters if it moves tenant.",
                None,
            )
        ]
    return [
        Finding(
            "verification_txt_missing",
            Severity.ERROR,
            "verification",
            f"Microsoft's verification TXT ({wanted}) is not published: the domain cannot be verified.",
            f"Publish TXT at the apex: {wanted}",
        )
    ]


def _autodiscover(obs: Observations, expected: ExpectedRecords | None) -> list[Finding]:
    answer = obs.autodiscover
    record = expected.first(Purpose.AUTODISCOVER) if expected else None
    if answer is None or record is None:
        return []
    if not answer.definite:
        return [_unknown("autodiscover", answer, "the autodiscover CNAME")]
    fix = f"Publish CNAME autodiscover → {record.value}"
    if not answer.found:
        return [
            Finding(
                "autodiscover_missing",
                Severity.WARNING,
                "autodiscover",
                "No autodiscover CNAME: Outlook clients cannot find the mailbox settings.",
                fix,
            )
        ]
    if answer.values[0] != record.value:
        return [
            Finding(
                "autodiscover_mismatch",
                Severity.WARNING,
                "autodiscover",
                f"autodiscover points at {answer.values[0]}, not {record.value}.",
                fix,
            )
        ]
    return [Finding("autodiscover_ok", Severity.OK, "autodiscover", "autodiscover CNAME is correct.")]


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
