"""The safety rules of plan/apply, judged on record sets as a provider would hold them."""

from __future__ import annotations

import pytest

from tenantcore.dnshealth.records import DnsRecord, Purpose
from tenantcore.dnsproviders.base import RecordSet
from tenantcore.dnsproviders.plan import Action, Owned, make_plan, merge_spf, removal

D = "acme.com"
MS_MX = "acme-com.mail.protection.outlook.com"
WANTED = [
    DnsRecord(Purpose.VERIFICATION, "TXT", D, "MS=ms12345678"),
    DnsRecord(Purpose.MX, "MX", D, MS_MX, preference=0),
    DnsRecord(Purpose.SPF, "TXT", D, "v=spf1 include:spf.protection.outlook.com -all"),
    DnsRecord(Purpose.AUTODISCOVER, "CNAME", f"autodiscover.{D}", "autodiscover.outlook.com"),
    DnsRecord(Purpose.DKIM, "CNAME", f"selector1._domainkey.{D}", "selector1-acme-com._domainkey.t.onmicrosoft.com"),
    DnsRecord(Purpose.DMARC, "TXT", f"_dmarc.{D}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{D}"),
]


def at(*rrsets: tuple[str, str, tuple[str, ...]]) -> dict[tuple[str, str], RecordSet]:
    return {(n, t): RecordSet(n, t, v) for n, t, v in rrsets}


async def lookups_of(text: str) -> int:
    # The merged record's own terms plus Microsoft's include (1 nested), as DNS would count.
    return sum(1 for t in text.split() if t.lstrip("+-~?").split(":")[0] in ("include", "a", "mx", "exists")) + 1


async def plan(current=None, owned=(), **kw):  # type: ignore[no-untyped-def]
    return await make_plan(D, D, WANTED, current or {}, list(owned), lookups_of, **kw)


def action(p, purpose: str) -> Action:  # type: ignore[no-untyped-def]
    return next(r.action for r in p.records if r.purpose == purpose)


async def test_an_empty_zone_gets_every_record_created_once() -> None:
    p = await plan()
    assert {r.action for r in p.records} == {Action.CREATE}
    apex_txt = next(w for w in p.writes if w.name == D and w.rtype == "TXT")
    assert sorted(apex_txt.values) == ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com -all"]
    assert len(p.writes) == 5  # apex TXT, MX, two CNAMEs, DMARC: one write per record set
    assert sum(len(v) for v in p.owned.values()) == 6
    # "Current" is what the provider serves, also for the SPF that shares the MS= TXT's name.
    assert all(r.current == () for r in p.records), [(r.purpose, r.current) for r in p.records]


async def test_a_zone_already_right_plans_nothing() -> None:
    first = await plan()
    current = {(w.name, w.rtype): w for w in first.writes}
    again = await plan(current, [o for v in first.owned.values() for o in v])
    assert {r.action for r in again.records} == {Action.UNCHANGED}
    assert again.writes == []


async def test_spf_is_merged_keeping_other_mechanisms_and_all() -> None:
    current = at((D, "TXT", ("v=spf1 include:_spf.google.com ip4:192.0.2.1 ~all", "google-site-verification=x")))
    p = await plan(current)
    spf = next(r for r in p.records if r.purpose == "spf")
    assert spf.action is Action.UPDATE
    merged = "v=spf1 include:_spf.google.com ip4:192.0.2.1 include:spf.protection.outlook.com ~all"
    assert merged in spf.after and "google-site-verification=x" in spf.after
    assert spf.current == ("v=spf1 include:_spf.google.com ip4:192.0.2.1 ~all", "google-site-verification=x")
    assert sum(v.startswith("v=spf1") for v in spf.after) == 1  # one SPF record per name, always
    owned = p.owned[(D, "TXT")]
    assert Owned(D, "TXT", merged, "v=spf1 include:_spf.google.com ip4:192.0.2.1 ~all") in owned


def test_merge_goes_before_redirect_and_keeps_a_record_that_has_it() -> None:
    assert merge_spf("v=spf1 mx redirect=_spf.x.com", "v=spf1 include:spf.protection.outlook.com -all") == (
        "v=spf1 mx include:spf.protection.outlook.com redirect=_spf.x.com"
    )
    text = "v=spf1 include:SPF.protection.outlook.com -all"
    assert merge_spf(text, "v=spf1 include:spf.protection.outlook.com -all") == text


async def test_spf_merge_past_ten_lookups_is_a_conflict() -> None:
    heavy = "v=spf1 " + " ".join(f"include:s{i}.example.net" for i in range(9)) + " -all"
    p = await plan(at((D, "TXT", (heavy,))))
    spf = next(r for r in p.records if r.purpose == "spf")
    assert spf.action is Action.CONFLICT and "11 DNS lookups" in spf.reason
    assert [v for v in spf.after if v.startswith("v=spf1")] == [heavy]
    assert all(heavy in w.values for w in p.writes if w.name == D and w.rtype == "TXT")


async def test_two_spf_records_are_a_conflict_not_a_third() -> None:
    p = await plan(at((D, "TXT", ("v=spf1 -all", "v=spf1 mx -all"))))
    assert action(p, "spf") is Action.CONFLICT


@pytest.mark.parametrize("policy", ["p=reject", "p=none", "p=quarantine; pct=10"])
async def test_an_existing_dmarc_policy_is_never_changed(policy: str) -> None:
    current = at((f"_dmarc.{D}", "TXT", (f"v=DMARC1; {policy}",)))
    p = await plan(current)
    assert action(p, "dmarc") is Action.UNCHANGED
    assert not any(w.name == f"_dmarc.{D}" for w in p.writes)


async def test_a_foreign_mx_is_a_conflict_unless_replace_mx() -> None:
    current = at((D, "MX", ("10 aspmx.l.google.com", "20 alt1.aspmx.l.google.com")))
    kept = await plan(current)
    mx = next(r for r in kept.records if r.purpose == "mx")
    assert mx.action is Action.CONFLICT and "aspmx.l.google.com" in mx.reason
    assert not any(w.rtype == "MX" for w in kept.writes)
    replaced = await plan(current, replace_mx=True)
    assert action(replaced, "mx") is Action.UPDATE
    assert next(w for w in replaced.writes if w.rtype == "MX").values == (f"0 {MS_MX}",)
    # Removal gives the user's MX back: replace_mx never leaves a domain without one.
    owned = replaced.owned[(D, "MX")]
    after = {(D, "MX"): RecordSet(D, "MX", (f"0 {MS_MX}",))}
    assert removal(after, owned)[0].values == ("10 aspmx.l.google.com", "20 alt1.aspmx.l.google.com")


async def test_microsofts_mx_at_another_preference_is_left_alone() -> None:
    p = await plan(at((D, "MX", (f"10 {MS_MX}.",))))
    assert action(p, "mx") is Action.UNCHANGED


async def test_a_cname_pointing_elsewhere_is_a_conflict_unless_tenantcore_wrote_it() -> None:
    name = f"selector1._domainkey.{D}"
    current = at((name, "CNAME", ("selector1-old._domainkey.other.onmicrosoft.com",)))
    assert action(await plan(current), "dkim") is Action.CONFLICT
    ours = [Owned(name, "CNAME", "selector1-old._domainkey.other.onmicrosoft.com")]
    rotated = await plan(current, ours)
    assert action(rotated, "dkim") is Action.UPDATE
    assert rotated.owned[(name, "CNAME")] == [Owned(name, "CNAME", WANTED[4].value)]


async def test_a_cname_beside_other_records_is_a_conflict() -> None:
    current = at((f"autodiscover.{D}", "TXT", ("something",)))
    assert action(await plan(current), "autodiscover") is Action.CONFLICT
    cname_at_dmarc = at((f"_dmarc.{D}", "CNAME", ("acme.dmarc.service.net",)))
    assert action(await plan(cname_at_dmarc), "dmarc") is Action.UNCHANGED


def test_removal_takes_back_only_what_is_still_as_tenantcore_wrote_it() -> None:
    merged = "v=spf1 mx include:spf.protection.outlook.com -all"
    owned = [
        Owned(D, "TXT", "MS=ms12345678"),
        Owned(D, "TXT", merged, "v=spf1 mx -all"),
        Owned(D, "MX", f"0 {MS_MX}"),
        Owned(f"autodiscover.{D}", "CNAME", "autodiscover.outlook.com"),
    ]
    current = at(
        (D, "TXT", ("MS=ms12345678", merged, "keep-me")),
        (D, "MX", ("10 mx.user-changed-it.net",)),  # changed since: stays
        (f"autodiscover.{D}", "CNAME", ("autodiscover.outlook.com",)),
    )
    writes = {(w.name, w.rtype): w.values for w in removal(current, owned)}
    assert writes == {(D, "TXT"): ("v=spf1 mx -all", "keep-me"), (f"autodiscover.{D}", "CNAME"): ()}
