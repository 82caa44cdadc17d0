"""`evaluate()` on observations built by hand: every rule judged without DNS.

`test_check.py` runs faults through a real DNS server, end to end; this table pins the judging
itself, one row per rule and outcome, including what no zone can easily produce (an include
walk over the lookup limit, a timeout on one selector), and checks it covers the catalogue.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantcore.dnshealth.blocklists import BlocklistResult, ListKind
from tenantcore.dnshealth.catalogue import CATALOGUE
from tenantcore.dnshealth.evaluate import Observations, SpfWalk, evaluate
from tenantcore.dnshealth.findings import Severity
from tenantcore.dnshealth.lookup import Outcome
from tenantcore.dnshealth.records import ExpectedRecords, build_expected_records
from tenantcore.dnshealth.report import MISSING
from tenantcore.dnshealth.report import UNKNOWN as STATUS_UNKNOWN
from tenantcore.dnshealth.spf import SpfProblem

from .answers import (
    DMARC,
    EXPECTED,
    OUR_MX,
    SPF,
    SPF_BODY,
    VERIFY,
    D,
    apex,
    codes,
    dmarc,
    failed,
    found,
    healthy,
    mx,
    selectors,
)
from .m365 import service_records, verification_records

SUB = f"mail.{D}"
# Before verification: Microsoft has issued the verification and service records, no DKIM keys yet.
NOT_ISSUED = build_expected_records(
    D, verification=verification_records(D), service=service_records(D), dmarc_rua=f"dmarc@{D}"
)
OK, INFO, WARNING, ERROR, UNKNOWN = Severity.OK, Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.UNKNOWN


@dataclass
class Case:
    obs: Observations
    findings: set[tuple[str, Severity]]  # (code, severity) the report must hold
    report: dict[str, object] = field(default_factory=dict)  # report attributes and their values
    not_found: set[str] = field(default_factory=set)  # codes the report must not hold
    expected: ExpectedRecords | None = EXPECTED
    is_verified: bool | None = True


def case(name: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Case(*args, **kwargs), id=name)


HEALTHY_CODES = {
    ("verification_ok", OK),
    ("spf_ok", OK),
    ("dkim_ok", OK),
    ("dmarc_ok", OK),
    ("mx_ok", OK),
    ("autodiscover_ok", OK),
}
LONG_IP4 = " ".join(f"ip4:192.0.2.{i}" for i in range(40))  # past 450 characters

TABLE = [
    case(
        "healthy",
        healthy(),
        HEALTHY_CODES,
        {
            "spf_status": SPF,
            "dkim_status": "healthy",
            "dmarc_status": DMARC,
            "mx_status": OUR_MX + ".",
            "selectors": {"selector1": "propagated", "selector2": "propagated"},
            "ready_to_enable": True,
            "grade": OK,
        },
    ),
    # --- SPF
    case("spf-missing", healthy(apex_txt=apex(VERIFY)), {("spf_missing", ERROR)}, {"spf_status": MISSING}),
    case(
        "spf-multiple",
        healthy(apex_txt=apex(VERIFY, SPF, "v=spf1 include:sendgrid.net -all")),
        {("spf_multiple", ERROR)},
        {"spf_status": SPF, "grade": ERROR},
    ),
    case("spf-syntax", healthy(apex_txt=apex(f"{SPF_BODY} foo:bar -all")), {("spf_syntax", ERROR)}),
    case("spf-pass-all", healthy(apex_txt=apex(VERIFY, f"{SPF_BODY} +all")), {("spf_pass_all", ERROR)}),
    case("spf-neutral-all", healthy(apex_txt=apex(VERIFY, f"{SPF_BODY} ?all")), {("spf_neutral_all", WARNING)}),
    case("spf-no-all", healthy(apex_txt=apex(VERIFY, SPF_BODY)), {("spf_no_all", WARNING)}, {"grade": WARNING}),
    case(
        "spf-softfail-all-is-only-info",
        healthy(apex_txt=apex(VERIFY, f"{SPF_BODY} ~all")),
        {("spf_softfail_all", INFO), ("spf_ok", OK)},
        {"grade": INFO},
    ),
    case(
        "spf-redirect-needs-no-all-and-no-include",
        healthy(apex_txt=apex(VERIFY, "v=spf1 redirect=_spf.acme-corp.com")),
        {("spf_ok", OK)},
        not_found={"spf_no_all", "spf_missing_microsoft_include"},
    ),
    case(
        "spf-missing-microsoft-include",
        healthy(apex_txt=apex(VERIFY, "v=spf1 include:_spf.google.com -all")),
        {("spf_missing_microsoft_include", ERROR)},
    ),
    case(
        "spf-missing-microsoft-include-guessed-from-mx",
        healthy(apex_txt=apex("v=spf1 include:_spf.google.com -all")),
        {("spf_missing_microsoft_include", WARNING)},
        expected=None,
    ),
    case(
        "spf-without-microsoft-mx-needs-no-include",
        healthy(apex_txt=apex("v=spf1 include:_spf.google.com -all"), mx=mx("mx1.mailhost.example")),
        {("spf_ok", OK), ("mx_not_microsoft", ERROR)},
        not_found={"spf_missing_microsoft_include"},
        expected=None,
    ),
    case(
        "spf-ptr",
        healthy(apex_txt=apex(VERIFY, "v=spf1 ptr include:spf.protection.outlook.com -all")),
        {("spf_ptr", WARNING)},
    ),
    case("spf-too-long", healthy(apex_txt=apex(VERIFY, f"{SPF_BODY} {LONG_IP4} -all")), {("spf_too_long", WARNING)}),
    case(
        "spf-too-many-lookups",
        healthy(spf_walk=SpfWalk(lookups=11)),
        {("spf_too_many_lookups", ERROR)},
        not_found={"spf_ok"},
    ),
    case("spf-ten-lookups-is-fine", healthy(spf_walk=SpfWalk(lookups=10)), {("spf_ok", OK)}),
    case(
        "spf-void-lookups-and-broken-includes",
        healthy(spf_walk=SpfWalk(lookups=4, void_lookups=3, broken=["gone1.example.net"])),
        {("spf_too_many_void_lookups", ERROR), ("spf_include_broken", ERROR)},
    ),
    case("spf-include-loop", healthy(spf_walk=SpfWalk(lookups=3, loop=True)), {("spf_include_loop", ERROR)}),
    case(
        "spf-include-syntax",
        healthy(
            spf_walk=SpfWalk(
                lookups=2,
                include_problems=[
                    ("_spf.vendor.example", "include:_spf.vendor.example", SpfProblem("a/33", "over 32", "Use /0-/32"))
                ],
            )
        ),
        {("spf_include_syntax", ERROR)},
        not_found={"spf_ok"},
    ),
    case(
        "spf-mx-too-many-names",
        healthy(spf_walk=SpfWalk(lookups=2, mx_too_many=[("mx", D, 11)])),
        {("spf_mx_too_many_names", ERROR)},
        not_found={"spf_ok"},
    ),
    case(
        "spf-include-unknown-makes-the-grade-unknown",
        healthy(spf_walk=SpfWalk(lookups=2, unknown=["x.nowhere-zone"])),
        {("spf_include_unknown", UNKNOWN), ("spf_ok", OK)},
        {"grade": UNKNOWN},
    ),
    case(
        "unknown-never-hides-an-error",
        healthy(spf_walk=SpfWalk(lookups=2, unknown=["x.nowhere-zone"]), dmarc=dmarc()),
        {("spf_include_unknown", UNKNOWN), ("dmarc_missing", ERROR)},
        {"grade": ERROR},
    ),
    # --- DMARC
    case(
        "dmarc-missing",
        healthy(dmarc=dmarc()),
        {("dmarc_missing", ERROR)},
        {"dmarc_status": MISSING, "grade": ERROR},
    ),
    case(
        "dmarc-policy-none",
        healthy(dmarc=dmarc("v=DMARC1; p=none; rua=mailto:d@acme-corp.com")),
        {("dmarc_policy_none", WARNING)},
        {"dmarc_status": "v=DMARC1; p=none; rua=mailto:d@acme-corp.com", "grade": WARNING},
        not_found={"dmarc_ok"},
    ),
    case("dmarc-no-rua", healthy(dmarc=dmarc("v=DMARC1; p=reject")), {("dmarc_no_rua", OK)}),
    case(
        "dmarc-at-the-wrong-name",
        healthy(dmarc=dmarc(), dmarc_elsewhere=[found(f"dmarc.{D}", "TXT", "v=DMARC1; p=reject")]),
        {("dmarc_wrong_name", ERROR)},
        {"dmarc_status": MISSING},
        not_found={"dmarc_missing"},
    ),
    case(
        "dmarc-not-starting-with-v",
        healthy(dmarc=dmarc("p=reject; v=DMARC1")),
        {("dmarc_syntax", ERROR)},
        {"dmarc_status": MISSING},
    ),
    case(
        "dmarc-syntax",
        healthy(dmarc=dmarc("v=DMARC1; p=reject; p=none; rua=mailto:d@acme-corp.com")),
        {("dmarc_syntax", ERROR)},
        {"dmarc_status": "v=DMARC1; p=reject; p=none; rua=mailto:d@acme-corp.com"},
    ),
    case(
        "dmarc-invalid-policy-with-valid-rua-reads-as-none",
        healthy(dmarc=dmarc("v=DMARC1; p=bogus; rua=mailto:d@acme-corp.com")),
        {("dmarc_no_policy", WARNING)},
        {"dmarc_status": "v=DMARC1; p=bogus; rua=mailto:d@acme-corp.com"},
        not_found={"dmarc_ok", "dmarc_syntax"},
    ),
    case(
        "dmarc-no-policy-and-no-valid-rua-is-discarded",
        healthy(dmarc=dmarc("v=DMARC1; rua=dmarc@acme-corp.com")),
        {("dmarc_no_policy", ERROR), ("dmarc_report_uri_invalid", WARNING)},
    ),
    case(
        "dmarc-tag-value-invalid",
        healthy(dmarc=dmarc("v=DMARC1; p=reject; pct=150; rua=mailto:d@acme-corp.com")),
        {("dmarc_tag_invalid", WARNING)},
        not_found={"dmarc_ok"},
    ),
    case(
        "dmarc-test-mode-applies-no-policy",
        healthy(dmarc=dmarc("v=DMARC1; p=reject; t=y; rua=mailto:d@acme-corp.com")),
        {("dmarc_test_mode", WARNING)},
        not_found={"dmarc_ok"},
    ),
    case(
        "dmarc-unknown-tag-and-order-are-only-info",
        healthy(dmarc=dmarc("v=DMARC1; rua=mailto:d@acme-corp.com; p=reject; foo=bar")),
        {("dmarc_unknown_tag", INFO), ("dmarc_tag_order", INFO), ("dmarc_ok", OK)},
    ),
    case(
        "dmarc-external-rua-not-authorized",
        healthy(
            dmarc=dmarc("v=DMARC1; p=reject; rua=mailto:d@reports.example"),
            dmarc_report_auth={
                "reports.example": failed(f"{D}._report._dmarc.reports.example", "TXT", Outcome.NXDOMAIN)
            },
        ),
        {("dmarc_report_unauthorized", WARNING)},
        not_found={"dmarc_ok"},
    ),
    case(
        "dmarc-external-rua-authorized",
        healthy(
            dmarc=dmarc("v=DMARC1; p=reject; rua=mailto:d@reports.example"),
            dmarc_report_auth={"reports.example": found(f"{D}._report._dmarc.reports.example", "TXT", "v=DMARC1")},
        ),
        {("dmarc_ok", OK)},
        not_found={"dmarc_report_unauthorized", "dmarc_report_auth_unknown"},
    ),
    case(
        "dmarc-external-rua-unverifiable-is-only-info",
        healthy(
            dmarc=dmarc("v=DMARC1; p=reject; rua=mailto:d@reports.example"),
            dmarc_report_auth={"reports.example": failed(f"{D}._report._dmarc.reports.example", "TXT")},
        ),
        {("dmarc_report_auth_unknown", INFO), ("dmarc_ok", OK)},
    ),
    case(
        "dmarc-subdomain-inherits-reject",
        dataclasses.replace(
            healthy(dmarc=failed(f"_dmarc.{SUB}", "TXT", Outcome.NXDOMAIN)),
            domain=SUB,
            dmarc_org=found(f"_dmarc.{D}", "TXT", "v=DMARC1; p=reject; rua=mailto:d@acme-corp.com"),
        ),
        {("dmarc_inherited", INFO)},
        {"dmarc_status": MISSING, "grade": INFO},
        not_found={"dmarc_missing"},
        expected=None,
    ),
    case(
        "dmarc-subdomain-inherits-sp-none",
        dataclasses.replace(
            healthy(dmarc=failed(f"_dmarc.{SUB}", "TXT", Outcome.NXDOMAIN)),
            domain=SUB,
            dmarc_org=found(f"_dmarc.{D}", "TXT", "v=DMARC1; p=reject; sp=none; rua=mailto:d@acme-corp.com"),
        ),
        {("dmarc_inherited", WARNING)},
        {"dmarc_status": MISSING},
        not_found={"dmarc_missing"},
        expected=None,
    ),
    case("dmarc-multiple", healthy(dmarc=dmarc(DMARC, "v=DMARC1; p=none")), {("dmarc_multiple", ERROR)}),
    case(
        "dmarc-removed-tags-are-only-info",
        healthy(dmarc=dmarc("v=DMARC1; p=reject; pct=50; rua=mailto:d@acme-corp.com")),
        {("dmarc_removed_tags", INFO), ("dmarc_ok", OK)},
    ),
    # --- MX
    case(
        "mx-missing",
        healthy(mx=failed(D, "MX", Outcome.NODATA)),
        {("mx_missing", ERROR)},
        {"mx_status": MISSING},
    ),
    case("mx-null", healthy(mx=mx("")), {("mx_null", ERROR)}, {"mx_status": MISSING}),
    case(
        "mx-not-microsoft",
        healthy(mx=mx("mx1.mailhost.example")),
        {("mx_not_microsoft", ERROR)},
        {"mx_status": "mx1.mailhost.example."},
    ),
    case(
        "mx-extra-hosts",
        healthy(mx=mx(OUR_MX, "mx1.mailhost.example")),
        {("mx_extra_hosts", WARNING)},
        {"mx_status": OUR_MX + "."},
        not_found={"mx_not_microsoft", "mx_ok"},
    ),
    case(
        "mx-microsoft-but-not-as-issued",
        healthy(mx=mx("acme-corp-com.r-v1.mx.microsoft")),
        {("mx_not_expected", WARNING)},
        {"mx_status": "acme-corp-com.r-v1.mx.microsoft."},
    ),
    case(
        "mx-microsoft-recognised-without-its-values",
        healthy(mx=mx("acme-corp-com.r-v1.mx.microsoft")),
        {("mx_ok", OK)},
        expected=None,
    ),
    # --- DKIM
    case(
        "dkim-one-selector-missing",
        healthy(selectors=selectors(selector2=None)),
        {("dkim_selector_missing", ERROR)},
        {
            "dkim_status": "partial",
            "selectors": {"selector1": "propagated", "selector2": MISSING},
            "ready_to_enable": False,
        },
    ),
    case(
        "dkim-both-missing",
        healthy(selectors=selectors(selector1=None, selector2=None)),
        {("dkim_selector_missing", ERROR)},
        {"dkim_status": MISSING, "ready_to_enable": False},
    ),
    case(
        "dkim-not-issued-before-verification-is-info",  # nobody can publish them yet
        healthy(selectors=selectors(selector1=None, selector2=None)),
        {("dkim_selector_not_issued", INFO)},
        {"dkim_status": MISSING, "ready_to_enable": False, "grade": INFO},
        not_found={"dkim_selector_missing"},
        expected=NOT_ISSUED,
        is_verified=False,
    ),
    case(
        "dkim-issued-before-verification-is-an-error",  # the CNAMEs are known: publish them
        healthy(selectors=selectors(selector1=None, selector2=None)),
        {("dkim_selector_missing", ERROR)},
        not_found={"dkim_selector_not_issued"},
        is_verified=False,
    ),
    case(
        "dkim-selector-mismatch",
        healthy(selectors=selectors(selector2="selector2-acme-corp-com._domainkey.other.onmicrosoft.com")),
        {("dkim_selector_mismatch", ERROR)},
        {"dkim_status": "mismatch (selector2)", "ready_to_enable": False},
    ),
    case(
        "dkim-txt-where-the-cname-belongs",
        healthy(
            selectors=selectors(selector2=None),
            selector_txt={"selector2": found(f"selector2._domainkey.{D}", "TXT", "v=DKIM1; k=rsa; p=MIIB")},
        ),
        {("dkim_selector_not_cname", ERROR)},
        not_found={"dkim_selector_missing"},
    ),
    case(
        "dkim-no-txt-either",
        healthy(
            selectors=selectors(selector2=None),
            selector_txt={"selector2": failed(f"selector2._domainkey.{D}", "TXT", Outcome.NXDOMAIN)},
        ),
        {("dkim_selector_missing", ERROR)},
        not_found={"dkim_selector_not_cname"},
    ),
    case(
        "dkim-old-and-new-formats-recognised-without-its-values",
        healthy(
            selectors=selectors(
                selector1="selector1-acme-corp-com._domainkey.acme.onmicrosoft.com",
                selector2="selector2-acme-corp-com._domainkey.acme.q-v1.dkim.mail.microsoft",
            )
        ),
        {("dkim_ok", OK)},
        {"dkim_status": "healthy", "ready_to_enable": True},
        expected=None,
    ),
    case(
        "dkim-selector1-at-selector2s-key",
        healthy(selectors=selectors(selector1="selector2-acme-corp-com._domainkey.acme.onmicrosoft.com")),
        {("dkim_selector_mismatch", ERROR)},
        {"dkim_status": "mismatch (selector1)"},
        expected=None,
    ),
    # --- verification TXT and the apex
    case(
        "verification-txt-missing",
        healthy(apex_txt=apex(SPF)),
        {("verification_txt_missing", ERROR)},
        is_verified=False,
    ),
    case(
        "verification-txt-missing-once-verified-is-info",
        healthy(apex_txt=apex(SPF)),
        {("verification_txt_missing", INFO)},
        {"grade": INFO},
    ),
    case(
        "verification-not-judged-without-microsofts-value",
        healthy(apex_txt=apex(SPF)),
        set(),
        not_found={"verification_txt_missing", "verification_ok"},
        expected=None,
    ),
    case(
        "apex-cname",
        healthy(apex_txt=found(D, "TXT", "v=spf1 -all", alias="parking.example.net")),
        {("apex_cname", ERROR)},
    ),
    # --- autodiscover
    case(
        "autodiscover-missing",
        healthy(autodiscover=failed(f"autodiscover.{D}", "CNAME", Outcome.NXDOMAIN)),
        {("autodiscover_missing", WARNING)},
    ),
    case(
        "autodiscover-mismatch",
        healthy(autodiscover=found(f"autodiscover.{D}", "CNAME", "autodiscover.example.net")),
        {("autodiscover_mismatch", WARNING)},
    ),
    case(
        "autodiscover-not-judged-without-microsofts-value",
        healthy(autodiscover=None),
        HEALTHY_CODES - {("autodiscover_ok", OK), ("verification_ok", OK)},
        {"grade": OK},
        not_found={"autodiscover_ok", "autodiscover_missing"},
        expected=None,
    ),
    # --- unknown answers: `<area>_unknown`, the status unknown, never missing
    case(
        "spf-unknown",
        healthy(apex_txt=failed(D, "TXT")),
        {("spf_unknown", UNKNOWN)},
        {"spf_status": STATUS_UNKNOWN, "grade": UNKNOWN, "fingerprint": None},
        not_found={"spf_missing", "verification_txt_missing", "verification_ok"},
    ),
    case(
        "mx-unknown",
        healthy(mx=failed(D, "MX", Outcome.SERVFAIL)),
        {("mx_unknown", UNKNOWN)},
        {"mx_status": STATUS_UNKNOWN, "grade": UNKNOWN, "fingerprint": None},
    ),
    case(
        "dmarc-unknown",
        healthy(dmarc=failed(f"_dmarc.{D}", "TXT", Outcome.REFUSED)),
        {("dmarc_unknown", UNKNOWN)},
        {"dmarc_status": STATUS_UNKNOWN, "grade": UNKNOWN, "fingerprint": None},
    ),
    case(
        "dkim-unknown",
        healthy(selectors=selectors(selector2=failed(f"selector2._domainkey.{D}", "CNAME"))),
        {("dkim_unknown", UNKNOWN)},
        {
            "dkim_status": STATUS_UNKNOWN,
            "selectors": {"selector1": "propagated", "selector2": STATUS_UNKNOWN},
            "ready_to_enable": False,
            "grade": UNKNOWN,
            "fingerprint": None,
        },
    ),
    case(
        "autodiscover-unknown",
        healthy(autodiscover=failed(f"autodiscover.{D}", "CNAME")),
        {("autodiscover_unknown", UNKNOWN)},
        {"grade": UNKNOWN, "fingerprint": None},
    ),
    case(
        "unknown-with-a-warning-grades-warning",
        healthy(mx=failed(D, "MX"), dmarc=dmarc("v=DMARC1; p=none; rua=mailto:d@acme-corp.com")),
        {("mx_unknown", UNKNOWN), ("dmarc_policy_none", WARNING)},
        {"grade": WARNING, "fingerprint": None},
    ),
    case(
        "blocklists-clean",
        healthy(blocklists=[BlocklistResult("dbl.spamhaus.org", ListKind.SPAMHAUS, "clean")]),
        {("blocklist_ok", OK)},
        {"grade": OK, "blocklist_status": "clean"},
    ),
    case(
        "blocklisted-is-an-error",
        healthy(
            blocklists=[
                BlocklistResult("dbl.spamhaus.org", ListKind.SPAMHAUS, "listed", ("127.0.1.2",), ("spam domain",)),
                BlocklistResult("multi.uribl.com", ListKind.URIBL, "clean"),
            ]
        ),
        {("blocklisted", ERROR)},
        {"grade": ERROR, "blocklist_status": "listed"},
        not_found={"blocklist_ok"},
    ),
    # A list that refused the query or did not answer says nothing about the domain: info, the
    # grade stays healthy, the status says unknown (never clean), the fingerprint is kept.
    case(
        "blocklist-refused-is-info",
        healthy(
            blocklists=[
                BlocklistResult(
                    "dbl.spamhaus.org", ListKind.SPAMHAUS, "unknown", problem="public resolver", refused=True
                )
            ]
        ),
        {("blocklist_refused", INFO)},
        {"grade": INFO, "blocklist_status": "unknown"},
    ),
    case(
        "blocklist-unanswered-is-info",
        healthy(blocklists=[BlocklistResult("multi.surbl.org", ListKind.SURBL, "unknown", problem="timeout")]),
        {("blocklist_unknown", INFO)},
        {"grade": INFO, "blocklist_status": "unknown"},
        not_found={"blocklist_ok"},
    ),
]


@pytest.mark.parametrize("case", TABLE)
def test_rules(case: Case) -> None:
    report = evaluate(case.obs, case.expected, case.is_verified)
    findings = {(f.code, f.severity) for f in report.findings}
    assert case.findings <= findings, report.findings
    assert not case.not_found & codes(report), report.findings
    for name, value in case.report.items():
        assert getattr(report, name) == value, name


def test_the_table_covers_the_catalogue() -> None:
    """Every code, at every severity it comes in, has a row above."""
    covered = set().union(*(param.values[0].findings for param in TABLE))
    catalogued = {(kind.code, kind.severity) for kinds in CATALOGUE.values() for kind in kinds}
    assert catalogued - covered == set()
    assert covered - catalogued == set()


def test_every_problem_says_how_to_fix_it() -> None:
    for kinds in CATALOGUE.values():
        for kind in kinds:
            assert kind.fix or kind.severity not in (WARNING, ERROR), kind


def test_texts_are_filled_from_the_observations() -> None:
    obs = healthy(
        spf_walk=SpfWalk(lookups=13),
        mx=mx("acme-corp-com.r-v1.mx.microsoft"),
        selectors=selectors(selector2=failed(f"selector2._domainkey.{D}", "CNAME", detail="after 2 tries")),
    )
    report = evaluate(obs, EXPECTED)
    texts = {f.code: (f.message, f.fix) for f in report.findings}
    assert texts["spf_too_many_lookups"] == (
        "SPF needs 13 DNS lookups (includes followed); the limit is 10, beyond which receivers return permerror.",
        "Remove includes for services that no longer send, or flatten some into ip4:/ip6:.",
    )
    assert texts["mx_not_expected"] == (
        "MX points at Microsoft (acme-corp-com.r-v1.mx.microsoft) but not at the host Microsoft issued for this "
        f"domain ({OUR_MX}).",
        f'At host "@" of zone acme-corp.com, publish MX 0 {OUR_MX}.',  # the host as the records table writes it
    )
    assert texts["dkim_unknown"][0] == (
        "Could not read the selector2 CNAME (selector2._domainkey.acme-corp.com CNAME: timeout, after 2 tries); "
        "it is not reported as missing."
    )


def test_fixes_without_microsofts_values_say_where_to_find_them() -> None:
    obs = healthy(mx=mx(), selectors=selectors(selector1=None), dmarc=dmarc())
    fixes = {f.code: f.fix for f in evaluate(obs).findings}
    assert (
        fixes["mx_missing"]
        == 'At host "@" of zone acme-corp.com, publish the MX record Microsoft 365 lists for this domain.'
    )
    assert fixes["dkim_selector_missing"].startswith(
        'At host "selector1._domainkey" of zone acme-corp.com, publish a CNAME to the selector1 target Microsoft 365 '
        "issues once the domain is verified"
    )
    assert "Get-" not in fixes["dkim_selector_missing"]  # operator words, no PowerShell cmdlet
    assert fixes["dmarc_missing"] == f'At host "_dmarc" of zone {D}, publish a TXT record: v=DMARC1; p=quarantine'


def test_fingerprint_follows_what_dns_said() -> None:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    first = evaluate(healthy(), EXPECTED, True, at)
    assert first.fingerprint is not None and len(first.fingerprint) == 16
    assert evaluate(healthy(), EXPECTED, True, at).fingerprint == first.fingerprint
    assert evaluate(healthy(), None).fingerprint == first.fingerprint  # what DNS said, not how it was judged
    changed = evaluate(healthy(dmarc=dmarc("v=DMARC1; p=reject; rua=mailto:d@acme-corp.com")), EXPECTED)
    assert changed.grade is first.grade is OK
    assert changed.fingerprint != first.fingerprint
    assert first.last_checked == "2026-11-24T00:00:00Z"
