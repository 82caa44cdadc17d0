"""DMARC records to RFC 7489 (with its verified errata) and RFC 9989 (DMARCbis).

No conformance suite exists for DMARC records, so the tables below are built from the RFCs'
own examples (RFC 7489 Appendix B.2, RFC 9989 Appendix B.2, the §7.1 report authorization
records as corrected by errata 5440 and 6439) and from each tag's grammar (RFC 7489 §6.4,
RFC 9989 §4.7 and §4.8): records receivers accept must raise no syntax finding, and every
record or tag they reject or ignore must raise the finding naming the exact tag and value.
The last tests run the extra lookups (the organizational domain's record a subdomain
inherits, external report authorization) through a real DNS server on loopback.
"""

from __future__ import annotations

import pytest

from tenantcore.dnshealth import HealthChecker, Severity
from tenantcore.dnshealth.dmarc import MAX_REPORT_AUTH_LOOKUPS, parse_dmarc
from tenantcore.dnshealth.evaluate import evaluate

from .answers import codes, dmarc, healthy

OK, INFO, WARNING, ERROR = Severity.OK, Severity.INFO, Severity.WARNING, Severity.ERROR

# Codes that say the record itself is wrong: a record receivers accept raises none of them.
SYNTAX_CODES = {
    "dmarc_syntax",
    "dmarc_no_policy",
    "dmarc_tag_invalid",
    "dmarc_report_uri_invalid",
    "dmarc_unknown_tag",
    "dmarc_tag_order",
}

VALID = [
    # RFC 7489 B.2.1 and RFC 9989 B.2.1: entire domain, monitoring only.
    pytest.param("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com", id="7489-B.2.1"),
    # RFC 7489 B.2.2, RFC 9989 B.2.2: per-message reports (the zone file's two strings joined).
    pytest.param(
        "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; ruf=mailto:auth-reports@example.com",
        id="7489-B.2.2",
    ),
    # RFC 7489 B.2.3, RFC 9989 B.2.3: failure reports to a third party.
    pytest.param(
        "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; ruf=mailto:auth-reports@thirdparty.example.net",
        id="7489-B.2.3",
    ),
    # RFC 7489 B.2.4: subdomain, sampling, several rua URIs, one with a size limit.
    pytest.param(
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; "
        "pct=25",
        id="7489-B.2.4",
    ),
    # RFC 9989 B.2.4: the same with t=y instead of pct, and without the size limit.
    pytest.param(
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net;t=y",
        id="9989-B.2.4-testing",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=mailto:dmarc-feedback@example.com, mailto:tld-test@thirdparty.example.net",
        id="9989-B.2.4-reject",
    ),
    # RFC 9989 B.3.1 (SMTP session example).
    pytest.param("v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com", id="9989-B.3.1"),
    # Every tag of both RFCs at a valid value; tag names and keywords are case-insensitive.
    pytest.param(
        "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; fo=1:d:s; rf=afrf; ri=3600; pct=100; "
        "rua=mailto:a@example.com!50k; ruf=mailto:f@example.com!1g; t=n; psd=u",
        id="every-tag",
    ),
    pytest.param("v=DMARC1; P=Reject; SP=NONE; ADKIM=S; rua=mailto:a@example.com", id="case-insensitive-keywords"),
    pytest.param("v=DMARC1;p=reject;rua=mailto:a@example.com;", id="no-spaces-trailing-separator"),
    pytest.param("v = DMARC1 ; p = reject ; rua = mailto:a@example.com", id="spaces-around-equals"),
    pytest.param("v=DMARC1; p=reject; psd=y", id="9989-psd-operator"),
    pytest.param("v=DMARC1; p=reject; fo=0", id="fo-single"),
    pytest.param("v=DMARC1; p=reject; pct=0", id="pct-zero"),
    pytest.param("v=DMARC1; p=reject; rua=mailto:dmarc+tag@example.com?subject=dmarc", id="mailto-with-query"),
    pytest.param("v=DMARC1; p=reject; rua=mailto:d@example.com!100", id="size-without-unit"),
]


@pytest.mark.parametrize("record", VALID)
def test_valid_records_raise_no_syntax_finding(record: str) -> None:
    parsed = parse_dmarc(record)
    assert (parsed.errors, parsed.tag_errors, parsed.uri_errors, parsed.unknown_tags) == ((), (), (), ())
    report = evaluate(healthy(dmarc=dmarc(record)))
    assert not codes(report) & SYNTAX_CODES, report.findings


# (record, code, severity, what the finding's message must name)
INVALID = [
    # v=DMARC1 must come first and match exactly (RFC 7489 §6.3, RFC 9989 §4.7).
    pytest.param("p=reject; v=DMARC1", "dmarc_syntax", ERROR, "does not start with v=DMARC1", id="v-not-first"),
    pytest.param("v=dmarc1; p=reject", "dmarc_syntax", ERROR, "v=dmarc1", id="v-lower-case"),
    pytest.param("v=DMARC1 p=reject", "dmarc_syntax", ERROR, "v=DMARC1 p=reject", id="missing-separator"),
    pytest.param("v=DMARC1; p=reject; p=none", "dmarc_syntax", ERROR, "'p' appears twice", id="duplicate-tag"),
    pytest.param("v=DMARC1; p=reject; reject", "dmarc_syntax", ERROR, "'reject'", id="not-a-pair"),
    # p missing or invalid: RFC 7489 §6.6.3 (p=none only with a valid rua), RFC 9989 §4.7.
    pytest.param("v=DMARC1", "dmarc_no_policy", ERROR, "no p= tag", id="no-p-no-rua"),
    pytest.param(
        "v=DMARC1; rua=mailto:d@example.com", "dmarc_no_policy", WARNING, "no p= tag", id="no-p-valid-rua-is-none"
    ),
    pytest.param("v=DMARC1; p=bogus", "dmarc_no_policy", ERROR, "p=bogus", id="p-invalid"),
    pytest.param("v=DMARC1; p=", "dmarc_no_policy", ERROR, "p=,", id="p-empty"),
    pytest.param(
        "v=DMARC1; p=rejected; rua=mailto:d@example.com", "dmarc_no_policy", WARNING, "p=rejected", id="p-typo"
    ),
    pytest.param("v=DMARC1; p=reject; rua=example.com", "dmarc_no_policy", None, None, id="p-valid-is-not-flagged"),
    # Every other tag's grammar.
    pytest.param("v=DMARC1; p=reject; sp=block", "dmarc_tag_invalid", WARNING, "sp=block", id="sp"),
    pytest.param("v=DMARC1; p=reject; np=nothing", "dmarc_tag_invalid", WARNING, "np=nothing", id="np"),
    pytest.param("v=DMARC1; p=reject; adkim=relaxed", "dmarc_tag_invalid", WARNING, "adkim=relaxed", id="adkim"),
    pytest.param("v=DMARC1; p=reject; aspf=x", "dmarc_tag_invalid", WARNING, "aspf=x", id="aspf"),
    pytest.param("v=DMARC1; p=reject; pct=101", "dmarc_tag_invalid", WARNING, "pct=101", id="pct-over-100"),
    pytest.param("v=DMARC1; p=reject; pct=-1", "dmarc_tag_invalid", WARNING, "pct=-1", id="pct-negative"),
    pytest.param("v=DMARC1; p=reject; pct=50%", "dmarc_tag_invalid", WARNING, "pct=50%", id="pct-percent"),
    pytest.param("v=DMARC1; p=reject; pct=0050", "dmarc_tag_invalid", WARNING, "pct=0050", id="pct-4-digits"),
    pytest.param("v=DMARC1; p=reject; fo=2", "dmarc_tag_invalid", WARNING, "fo=2", id="fo-value"),
    pytest.param("v=DMARC1; p=reject; fo=1,d", "dmarc_tag_invalid", WARNING, "fo=1,d", id="fo-comma"),
    pytest.param("v=DMARC1; p=reject; fo=", "dmarc_tag_invalid", WARNING, "fo=", id="fo-empty"),
    pytest.param("v=DMARC1; p=reject; ri=1d", "dmarc_tag_invalid", WARNING, "ri=1d", id="ri-unit"),
    pytest.param("v=DMARC1; p=reject; ri=4294967296", "dmarc_tag_invalid", WARNING, "ri=4294967296", id="ri-32bit"),
    pytest.param("v=DMARC1; p=reject; rf=iodef", "dmarc_tag_invalid", WARNING, "rf=iodef", id="rf-format"),
    pytest.param("v=DMARC1; p=reject; t=yes", "dmarc_tag_invalid", WARNING, "t=yes", id="t"),
    pytest.param("v=DMARC1; p=reject; psd=true", "dmarc_tag_invalid", WARNING, "psd=true", id="psd"),
    # rua/ruf: comma-separated URIs, optional !size[kmgt]; receivers send to mailto: only.
    pytest.param(
        "v=DMARC1; p=reject; rua=dmarc@example.com",
        "dmarc_report_uri_invalid",
        WARNING,
        "'mailto:' is missing",
        id="rua-no-scheme",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=https://example.com/dmarc",
        "dmarc_report_uri_invalid",
        WARNING,
        "uses https:",
        id="rua-https",
    ),
    pytest.param(
        "v=DMARC1; p=reject; ruf=mailto:dmarc@", "dmarc_report_uri_invalid", WARNING, "'dmarc@'", id="ruf-no-domain"
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=mailto:d@example.com!10x",
        "dmarc_report_uri_invalid",
        WARNING,
        "'!10x'",
        id="rua-bad-size-unit",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=mailto:d@example.com!",
        "dmarc_report_uri_invalid",
        WARNING,
        "'!'",
        id="rua-empty-size",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=mailto:a@example.com;mailto:b@example.com",
        "dmarc_syntax",
        ERROR,
        "'mailto:b@example.com'",
        id="rua-semicolon-separated",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=mailto:a@example.com mailto:b@example.com",
        "dmarc_report_uri_invalid",
        WARNING,
        "invalid e-mail address",
        id="rua-space-separated",
    ),
    pytest.param(
        "v=DMARC1; p=reject; rua=",
        "dmarc_report_uri_invalid",
        WARNING,
        "is not a URI",
        id="rua-empty",
    ),
    # Unknown tags are ignored (info), and p= away from second place is only info (RFC 9989).
    pytest.param("v=DMARC1; p=reject; rau=mailto:d@example.com", "dmarc_unknown_tag", INFO, "rau=", id="unknown-tag"),
    pytest.param("v=DMARC1; rua=mailto:d@example.com; p=reject", "dmarc_tag_order", INFO, "v=; rua=; p=", id="order"),
    # RFC 9989 B.2.4's testing record is valid, but nothing is enforced while t=y.
    pytest.param(
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net;t=y",
        "dmarc_test_mode",
        WARNING,
        "p=quarantine",
        id="9989-B.2.4-test-mode",
    ),
    pytest.param("v=DMARC1; p=reject; t=n", "dmarc_test_mode", None, None, id="t-n-enforces"),
    # RFC 9989 removed pct, rf and ri: still read by RFC 7489 receivers, so only info.
    pytest.param("v=DMARC1; p=reject; pct=50", "dmarc_removed_tags", INFO, "pct", id="removed-pct"),
]


@pytest.mark.parametrize(("record", "code", "severity", "names"), INVALID)
def test_invalid_records_are_caught_naming_the_tag(record: str, code: str, severity, names) -> None:
    report = evaluate(healthy(dmarc=dmarc(record)))
    found = [f for f in report.findings if f.code == code]
    if severity is None:
        assert not found, found
        return
    assert [f.severity for f in found][:1] == [severity], report.findings
    assert any(names in f.message for f in found), found
    assert all(f.fix for f in found if f.severity in (WARNING, ERROR))
    if severity in (WARNING, ERROR):
        assert "dmarc_ok" not in codes(report)


def test_every_bad_value_is_reported_not_only_the_first() -> None:
    record = "v=DMARC1; p=reject; adkim=x; aspf=y; pct=200; rua=mailto:a@example.com, https://x.example/r"
    report = evaluate(healthy(dmarc=dmarc(record)))
    messages = [f.message for f in report.findings if f.code in ("dmarc_tag_invalid", "dmarc_report_uri_invalid")]
    assert len(messages) == 4
    for part in ("adkim=x", "aspf=y", "pct=200", "https://x.example/r"):
        assert any(part in m for m in messages), part


def test_the_default_a_receiver_applies_is_named() -> None:
    report = evaluate(healthy(dmarc=dmarc("v=DMARC1; p=reject; sp=bogus; rua=mailto:d@acme-corp.com")))
    finding = next(f for f in report.findings if f.code == "dmarc_tag_invalid")
    assert "the p= policy" in finding.message
    assert "none, quarantine or reject" in finding.fix


# --- lookups through a real DNS server ---------------------------------------------------

ORG = "acme-corp.com"
SUB = f"mail.{ORG}"


async def check(config, domain):
    return await HealthChecker(config).check(domain)


def _dmarc_findings(report):
    return {f.code: f for f in report.findings if f.area == "dmarc"}


@pytest.mark.parametrize(
    ("org_record", "severity", "says"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@acme-corp.com", INFO, "p=reject"),
        ("v=DMARC1; p=none; sp=quarantine; rua=mailto:d@acme-corp.com", INFO, "sp=quarantine"),
        ("v=DMARC1; p=reject; sp=none; rua=mailto:d@acme-corp.com", WARNING, "sp=none"),
        ("v=DMARC1; rua=mailto:d@acme-corp.com", WARNING, "no valid p="),
    ],
)
async def test_a_subdomain_without_a_record_inherits_the_organizational_policy(
    config, store, org_record, severity, says
):
    store.add_zone(ORG)
    store.add(SUB, "MX", "10 mx.acme-corp.com")
    store.add(f"_dmarc.{ORG}", "TXT", org_record)
    report = await check(config, SUB)
    findings = _dmarc_findings(report)
    assert "dmarc_missing" not in findings
    inherited = findings["dmarc_inherited"]
    assert inherited.severity is severity
    assert says in inherited.message and f"_dmarc.{ORG}" in inherited.message
    assert report.dmarc_status == "missing"


async def test_a_subdomain_that_does_not_exist_gets_np(config, store):
    store.add_zone(ORG)
    store.add(f"_dmarc.{ORG}", "TXT", "v=DMARC1; p=none; np=reject; rua=mailto:d@acme-corp.com")
    report = await check(config, f"nowhere.{ORG}")
    inherited = _dmarc_findings(report)["dmarc_inherited"]
    assert "np=reject" in inherited.message and inherited.severity is INFO


async def test_a_subdomain_with_nothing_to_inherit_is_missing(config, store):
    store.add_zone(ORG)
    store.add(SUB, "MX", "10 mx.acme-corp.com")
    report = await check(config, SUB)
    assert _dmarc_findings(report)["dmarc_missing"].severity is ERROR


async def test_the_organizational_domain_itself_inherits_nothing(config, store):
    store.add_zone(ORG)
    report = await check(config, ORG)
    assert "dmarc_missing" in codes(report, ERROR)
    assert "dmarc_inherited" not in codes(report)


async def test_an_unanswered_organizational_lookup_is_unknown_not_missing(config, store, servfail_server):
    store.add_zone(ORG)
    store.add(SUB, "MX", "10 mx.acme-corp.com")
    store.delegate(f"_dmarc.{ORG}", servfail_server)  # only that name fails
    report = await check(config, SUB)
    assert report.dmarc_status == "unknown"
    assert _dmarc_findings(report)["dmarc_unknown"].severity is Severity.UNKNOWN
    assert "dmarc_missing" not in codes(report)


REPORTER = "reports.example.net"


async def test_external_report_addresses_need_the_targets_consent(config, store):
    store.add_zone(ORG)
    store.add_zone("example.net")
    store.add(f"_dmarc.{ORG}", "TXT", f"v=DMARC1; p=reject; rua=mailto:agg@{REPORTER}; ruf=mailto:f@other.example.net")
    # Errata 5440: the authorization record as "v=DMARC1;" (with the semicolon).
    store.add(f"{ORG}._report._dmarc.{REPORTER}", "TXT", "v=DMARC1;")
    report = await check(config, ORG)
    unauthorized = [f for f in report.findings if f.code == "dmarc_report_unauthorized"]
    assert len(unauthorized) == 1
    assert "other.example.net" in unauthorized[0].message
    assert f"{ORG}._report._dmarc.other.example.net" in unauthorized[0].fix
    assert unauthorized[0].severity is WARNING


async def test_authorized_external_reports_and_same_organization_addresses_are_fine(config, store):
    store.add_zone(ORG)
    store.add_zone("example.net")
    # Errata 6439: blue.acme-corp.com reporting to an address at acme-corp.com needs no consent.
    store.add(f"_dmarc.{ORG}", "TXT", f"v=DMARC1; p=reject; rua=mailto:a@{REPORTER},mailto:d@reports.{ORG}")
    store.add(f"{ORG}._report._dmarc.{REPORTER}", "TXT", "v=DMARC1")  # RFC 7489 B.2.3's form, no semicolon
    report = await check(config, ORG)
    assert not {"dmarc_report_unauthorized", "dmarc_report_auth_unknown"} & codes(report)
    assert "dmarc_ok" in codes(report)


async def test_an_unanswered_authorization_lookup_is_only_info(config, store, servfail_server):
    store.add_zone(ORG)
    store.delegate("example.net", servfail_server)  # the reporter's zone answers SERVFAIL
    store.add(f"_dmarc.{ORG}", "TXT", f"v=DMARC1; p=reject; rua=mailto:a@{REPORTER}")
    report = await check(config, ORG)
    unknown = [f for f in report.findings if f.code == "dmarc_report_auth_unknown"]
    assert [f.severity for f in unknown] == [INFO]
    assert "dmarc_report_unauthorized" not in codes(report)


async def test_authorization_lookups_are_capped(config, store):
    store.add_zone(ORG)
    hosts = [f"r{i}.example{i}.net" for i in range(MAX_REPORT_AUTH_LOOKUPS + 2)]
    for i in range(MAX_REPORT_AUTH_LOOKUPS + 2):
        store.add_zone(f"example{i}.net")
    store.add(f"_dmarc.{ORG}", "TXT", "v=DMARC1; p=reject; rua=" + ",".join(f"mailto:d@{h}" for h in hosts))
    report = await check(config, ORG)
    assert len([f for f in report.findings if f.code == "dmarc_report_unauthorized"]) == MAX_REPORT_AUTH_LOOKUPS
    capped = [f for f in report.findings if f.code == "dmarc_report_auth_unknown"]
    assert len(capped) == 2 and all("not checked" in f.message for f in capped)
