"""The next action and per-record status an operator reads: each lifecycle state and DNS
situation gives the one step that moves the domain on, and each record says whether DNS has it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tenantcore.db import now
from tenantcore.dnshealth import build_expected_records
from tenantcore.domains.progress import Action, RecordState, group_title, next_action, record_statuses, shown, title

D = "mail.acme-corp.com"
VERIFICATION = [{"recordType": "Txt", "label": D, "text": "MS=ms12345678", "ttl": 3600}]
SERVICE = [
    {"recordType": "Mx", "label": D, "mailExchange": "mail-acme-corp-com.mail.protection.outlook.com", "preference": 0},
    {"recordType": "Txt", "label": D, "text": "v=spf1 include:spf.protection.outlook.com -all"},
    {"recordType": "CName", "label": f"autodiscover.{D}", "canonicalName": "autodiscover.outlook.com"},
]
DKIM = {
    "Selector1CNAME": "selector1-mail-acme-corp-com._domainkey.acme.n-v1.dkim.mail.microsoft",
    "Selector2CNAME": "selector2-mail-acme-corp-com._domainkey.acme.n-v1.dkim.mail.microsoft",
}
ALL_PUBLISHED = {
    "apex_txt": ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com -all"],
    "mx": ["0 mail-acme-corp-com.mail.protection.outlook.com."],
    "dmarc": ["v=DMARC1; p=reject"],
    "autodiscover": ["autodiscover.outlook.com"],
    "dkim_selector1": [DKIM["Selector1CNAME"]],
    "dkim_selector2": [DKIM["Selector2CNAME"]],
}
NOTHING = {k: [] for k in ALL_PUBLISHED}


def expected(dkim: bool = False):
    return build_expected_records(D, verification=VERIFICATION, service=SERVICE, dkim_config=DKIM if dkim else None)


def states(observed, dkim: bool = False) -> dict[tuple[str, str], RecordState]:
    return {(s.host, s.record.rtype): s.state for s in record_statuses(expected(dkim), observed)}


def test_each_record_is_judged_against_what_dns_serves_with_hosts_relative_to_the_zone():
    got = states(NOTHING, dkim=True)
    assert got == {
        ("mail", "TXT"): RecordState.MISSING,  # verification and SPF share the host
        ("mail", "MX"): RecordState.MISSING,
        ("autodiscover.mail", "CNAME"): RecordState.MISSING,
        ("selector1._domainkey.mail", "CNAME"): RecordState.MISSING,
        ("selector2._domainkey.mail", "CNAME"): RecordState.MISSING,
        ("_dmarc.mail", "TXT"): RecordState.MISSING,
    }
    assert set(states(ALL_PUBLISHED, dkim=True).values()) == {RecordState.PUBLISHED}


def test_a_different_record_says_what_is_there():
    observed = ALL_PUBLISHED | {
        "mx": ["10 mx.google.com."],
        "apex_txt": ["MS=ms12345678", "v=spf1 include:_spf.google.com ~all"],
        "dkim_selector1": ["selector1-other._domainkey.other.onmicrosoft.com"],
    }
    by_kind = {(s.record.purpose, s.host): s for s in record_statuses(expected(True), observed)}
    mx = by_kind[("mx", "mail")]
    assert (mx.state, mx.seen) == (RecordState.DIFFERENT, ("10 mx.google.com.",))
    spf = by_kind[("spf", "mail")]
    assert (spf.state, spf.seen) == (RecordState.DIFFERENT, ("v=spf1 include:_spf.google.com ~all",))
    assert by_kind[("dkim", "selector1._domainkey.mail")].state == RecordState.DIFFERENT
    assert by_kind[("verification", "mail")].state == RecordState.PUBLISHED


def test_an_spf_record_merged_with_the_operators_terms_counts_as_published():
    observed = ALL_PUBLISHED | {
        "apex_txt": ["MS=ms12345678", "v=spf1 ip4:192.0.2.1 include:spf.protection.outlook.com -all"]
    }
    assert states(observed)[("mail", "TXT")] == RecordState.PUBLISHED


def test_unanswered_lookups_are_unknown_and_new_keys_unchecked_never_missing():
    observed = {k: v for k, v in ALL_PUBLISHED.items() if not k.startswith("dkim")} | {"mx": "timeout"}
    by_purpose = {s.record.purpose: s.state for s in record_statuses(expected(True), observed)}
    assert by_purpose["mx"] == RecordState.UNKNOWN
    assert by_purpose["dkim"] == RecordState.UNCHECKED  # issued after the last check
    assert {s.state for s in record_statuses(expected(), None)} == {RecordState.UNCHECKED}


def act(observed, *, verified=False, dkim_enabled=False, dkim=False, grade="error", problems=1, listed=None):
    return next_action(
        is_verified=verified,
        dkim_enabled=dkim_enabled,
        grade=grade,
        blocklist_status=listed,
        statuses=record_statuses(expected(dkim), observed),
        problems=problems,
    )


@pytest.mark.parametrize(
    ("case", "want", "count"),
    [
        (dict(observed=None, grade=None), Action.CHECK_PENDING, 0),
        (dict(observed=NOTHING), Action.PUBLISH_RECORDS, 5),  # TXT x2, MX, autodiscover, DMARC
        (dict(observed=ALL_PUBLISHED, grade="ok"), Action.WAITING_MICROSOFT, 0),
        (dict(observed=ALL_PUBLISHED | {"mx": "timeout"}, grade="unknown"), Action.RECHECK, 0),
        (dict(observed=ALL_PUBLISHED, verified=True, grade="ok"), Action.WAITING_MICROSOFT, 0),  # keys not issued
        (
            dict(observed=ALL_PUBLISHED | {"dkim_selector1": [], "dkim_selector2": []}, verified=True, dkim=True),
            Action.PUBLISH_DKIM,
            2,
        ),
        (dict(observed=NOTHING, verified=True, dkim=True), Action.PUBLISH_RECORDS, 7),
        (dict(observed=ALL_PUBLISHED, verified=True, dkim=True, grade="ok"), Action.ENABLE_DKIM, 0),
        (dict(observed=ALL_PUBLISHED, verified=True, dkim=True, dkim_enabled=True, grade="ok"), Action.HEALTHY, 0),
        (
            dict(observed=ALL_PUBLISHED, verified=True, dkim=True, dkim_enabled=True, grade="warning", problems=2),
            Action.FIX_DNS,
            2,
        ),
        (
            dict(observed=ALL_PUBLISHED, verified=True, dkim=True, dkim_enabled=True, grade="error", listed="listed"),
            Action.DELIST,
            0,
        ),
        (
            dict(observed=ALL_PUBLISHED | {"mx": []}, verified=True, dkim=True, dkim_enabled=True),
            Action.PUBLISH_RECORDS,
            1,
        ),
    ],
)
def test_the_next_action_follows_the_state_and_the_records(case, want, count):
    got = act(**case)
    assert (got.action, got.count) == (want, count)


def test_titles_read_as_sentences():
    assert title("publish_records", 7) == "Publish 7 records"
    assert title("publish_records", 1) == "Publish 1 record"
    assert title("publish_records", 11) == "Publish 11 records"  # not "11 record"
    assert title("awaiting_dns", 1) == "Awaiting DNS (1 record)"
    assert title("publish_dkim", 2) == "Publish 2 DKIM CNAMEs"
    assert title("waiting_microsoft", 0) == "Waiting for Microsoft"
    assert group_title("awaiting_dns") == "Awaiting DNS" and group_title("fix_dns") == "Fix DNS problems"


def test_a_new_domain_is_awaiting_dns_until_the_grace_period_has_passed():
    at = now()
    young = shown("publish_records", 5, at - timedelta(minutes=5), at, grace=3600)
    old = shown("publish_records", 5, at - timedelta(hours=2), at, grace=3600)
    assert (young.action, young.count) == (Action.AWAITING_DNS, 5)
    assert old.action == Action.PUBLISH_RECORDS
    assert shown("enable_dkim", 0, at, at, grace=3600).action == Action.ENABLE_DKIM  # only missing records wait


def test_a_subdomain_inheriting_an_enforcing_dmarc_has_nothing_to_publish_for_it():
    observed = ALL_PUBLISHED | {"dmarc": []}
    statuses = record_statuses(expected(True), observed, dmarc_inherited=True)
    dmarc = next(s for s in statuses if s.record.purpose == "dmarc")
    assert dmarc.state == RecordState.INHERITED and not dmarc.to_publish
    got = next_action(
        is_verified=True, dkim_enabled=True, grade="ok", blocklist_status=None, statuses=statuses, problems=0
    )
    assert got.action == Action.HEALTHY
    # Without an enforcing parent record the same domain still has its DMARC record to publish.
    missing = record_statuses(expected(True), observed)
    assert next(s for s in missing if s.record.purpose == "dmarc").state == RecordState.MISSING


def test_an_spf_record_that_hands_over_with_redirect_is_judged_by_the_check_not_republished():
    observed = ALL_PUBLISHED | {"apex_txt": ["MS=ms12345678", "v=spf1 redirect=_spf.acme-corp.com"]}
    assert states(observed)[("mail", "TXT")] == RecordState.PUBLISHED


def test_the_bulk_selection_takes_each_domain_once_whatever_its_case():
    from tenantcore.web.problems import _selection

    assert _selection(["ABC/X.com", "abc/x.com.", "abc/x.com", "bad", "/x", "t/"]) == [("abc", "x.com")]
