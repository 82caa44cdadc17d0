"""Health checks against a real authoritative DNS server on loopback, one zone per fault."""

from __future__ import annotations

import pytest

from tenantcore.dnshealth import HealthChecker, ResolverConfig, Severity
from tenantcore.dnshealth.records import Purpose

from .answers import D, codes
from .m365 import expected_for


async def check(config, domain=D, expected=None, is_verified=True):
    return await HealthChecker(config).check(domain, expected, is_verified)


async def test_healthy_domain_reports_the_spec_fields(config, publish):
    expected = publish(D)
    report = await check(config, expected=expected)
    assert report.spf_status == "v=spf1 include:spf.protection.outlook.com -all"
    assert report.dkim_status == "healthy"
    assert report.dmarc_status == f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{D}"
    assert report.mx_status == "acme-corp-com.mail.protection.outlook.com."
    assert report.selectors == {"selector1": "propagated", "selector2": "propagated"}
    assert report.ready_to_enable is True
    assert report.grade is Severity.OK
    assert codes(report, Severity.ERROR) == set()
    assert report.last_checked.endswith("Z") and len(report.last_checked) == 20
    assert set(report.status_fields()) == {
        "spf_status",
        "dkim_status",
        "dmarc_status",
        "mx_status",
        "last_checked",
    }


async def test_nothing_published_is_missing_everywhere(config, store):
    store.add_zone(D)
    report = await check(config, expected=expected_for(D), is_verified=False)
    assert (report.spf_status, report.dkim_status, report.dmarc_status, report.mx_status) == ("missing",) * 4
    assert report.selectors == {"selector1": "missing", "selector2": "missing"}
    assert report.ready_to_enable is False
    assert {
        "spf_missing",
        "dmarc_missing",
        "mx_missing",
        "dkim_selector_missing",
        "verification_txt_missing",
    } <= codes(report, Severity.ERROR)
    assert report.grade is Severity.ERROR
    fixes = {f.code: f.fix for f in report.findings}
    assert "MS=ms12345678" in fixes["verification_txt_missing"]
    assert "acme-corp-com.mail.protection.outlook.com" in fixes["mx_missing"]


async def test_verification_txt_missing_is_only_info_once_verified(config, store, publish):
    expected = publish(D)
    store.delete(D, "TXT")
    store.add(D, "TXT", "v=spf1 include:spf.protection.outlook.com -all")
    report = await check(config, expected=expected, is_verified=True)
    finding = next(f for f in report.findings if f.code == "verification_txt_missing")
    assert finding.severity is Severity.INFO


@pytest.mark.parametrize(
    ("spf", "code", "severity"),
    [
        ("v=spf1 include:spf.protection.outlook.com +all", "spf_pass_all", Severity.ERROR),
        ("v=spf1 include:spf.protection.outlook.com ?all", "spf_neutral_all", Severity.WARNING),
        ("v=spf1 include:spf.protection.outlook.com", "spf_no_all", Severity.WARNING),
        ("v=spf1 include:spf.protection.outlook.com ~all", "spf_softfail_all", Severity.INFO),
        ("v=spf1 include:_spf.google.com -all", "spf_missing_microsoft_include", Severity.ERROR),
        ("v=spf1 include:spf.protection.outlook.com foo:bar -all", "spf_syntax", Severity.ERROR),
        ("v=spf1 ptr include:spf.protection.outlook.com -all", "spf_ptr", Severity.WARNING),
    ],
)
async def test_spf_faults(config, store, publish, spf, code, severity):
    expected = publish(D)
    store.add("_spf.google.com", "TXT", "v=spf1 ip4:35.190.247.0/24 ~all")
    store.set(D, "TXT", ["MS=ms12345678", spf])
    report = await check(config, expected=expected)
    assert report.spf_status == spf
    finding = next(f for f in report.findings if f.code == code)
    assert finding.severity is severity
    assert finding.fix


async def test_two_spf_records(config, store, publish):
    expected = publish(D)
    store.add(D, "TXT", "v=spf1 include:sendgrid.net -all")
    report = await check(config, expected=expected)
    assert "spf_multiple" in codes(report, Severity.ERROR)


async def test_more_than_ten_lookups_counts_nested_includes(config, store, publish):
    expected = publish(D)
    # 1 (outlook) + 3 includes, each of which costs 3 more lookups: 1 + 3 * (1 + 3) = 13.
    for i in range(3):
        store.add(f"vendor{i}.example.net", "TXT", f"v=spf1 a mx include:sub{i}.example.net -all")
        store.add(f"sub{i}.example.net", "TXT", "v=spf1 a ip4:192.0.2.0/24 -all")
    includes = " ".join(f"include:vendor{i}.example.net" for i in range(3))
    store.set(D, "TXT", ["MS=ms12345678", f"v=spf1 include:spf.protection.outlook.com {includes} -all"])
    report = await check(config, expected=expected)
    finding = next(f for f in report.findings if f.code == "spf_too_many_lookups")
    assert finding.severity is Severity.ERROR
    assert "13 DNS lookups" in finding.message


async def test_ten_lookups_is_still_fine(config, store, publish):
    expected = publish(D)
    for i in range(9):
        store.add(f"v{i}.example.net", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    includes = " ".join(f"include:v{i}.example.net" for i in range(9))
    store.set(D, "TXT", ["MS=ms12345678", f"v=spf1 include:spf.protection.outlook.com {includes} -all"])
    report = await check(config, expected=expected)
    assert "spf_too_many_lookups" not in codes(report)
    assert "spf_ok" in codes(report)


async def test_void_lookups(config, store, publish):
    expected = publish(D)
    store.add_zone("example.net")
    gone = " ".join(f"include:gone{i}.example.net" for i in range(3))
    store.set(D, "TXT", ["MS=ms12345678", f"v=spf1 include:spf.protection.outlook.com {gone} -all"])
    report = await check(config, expected=expected)
    assert {"spf_too_many_void_lookups", "spf_include_broken"} <= codes(report, Severity.ERROR)


async def test_void_lookups_count_a_mx_and_exists_terms_inside_includes(config, store, publish):
    expected = publish(D)
    store.add_zone("example.net")
    store.add(
        "vendor.example.net", "TXT", "v=spf1 a:gone1.example.net mx:gone2.example.net exists:gone3.example.net -all"
    )
    store.set(D, "TXT", ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com include:vendor.example.net -all"])
    report = await check(config, expected=expected)
    finding = next(f for f in report.findings if f.code == "spf_too_many_void_lookups")
    assert finding.severity is Severity.ERROR
    assert "3 DNS lookups" in finding.message
    assert "gone1.example.net, gone2.example.net, gone3.example.net" in finding.message
    assert "spf_include_broken" not in codes(report)  # the include itself is fine


async def test_a_syntax_error_in_an_included_record_is_reported_on_the_including_domain(config, store, publish):
    expected = publish(D)
    store.add("vendor.example.net", "TXT", "v=spf1 ip4:192.0.2.0/33 -all")
    store.set(D, "TXT", ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com include:vendor.example.net -all"])
    report = await check(config, expected=expected)
    finding = next(f for f in report.findings if f.code == "spf_include_syntax")
    assert finding.severity is Severity.ERROR
    assert "vendor.example.net" in finding.message and "'ip4:192.0.2.0/33'" in finding.message
    assert "include:vendor.example.net" in finding.fix
    assert "spf_syntax" not in codes(report)  # the domain's own record is valid


async def test_an_mx_term_naming_more_than_ten_hosts(config, store, publish):
    expected = publish(D)
    for i in range(11):
        store.add("relay.example.net", "MX", f"{i} mx{i}.example.net")
    store.set(D, "TXT", ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com mx:relay.example.net -all"])
    report = await check(config, expected=expected)
    finding = next(f for f in report.findings if f.code == "spf_mx_too_many_names")
    assert "'mx:relay.example.net'" in finding.message and "11 hosts" in finding.message


async def test_include_loop(config, store, publish):
    expected = publish(D)
    store.add("loop-a.example.net", "TXT", "v=spf1 include:loop-b.example.net -all")
    store.add("loop-b.example.net", "TXT", "v=spf1 include:loop-a.example.net -all")
    store.set(
        D,
        "TXT",
        ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com include:loop-a.example.net -all"],
    )
    report = await check(config, expected=expected)
    assert "spf_include_loop" in codes(report, Severity.ERROR)


async def test_dmarc_missing_and_duplicated(config, store, publish):
    expected = publish(D)
    store.delete(f"_dmarc.{D}")
    report = await check(config, expected=expected)
    assert report.dmarc_status == "missing"
    assert "dmarc_missing" in codes(report, Severity.ERROR)

    store.set(f"_dmarc.{D}", "TXT", ["v=DMARC1; p=reject; rua=mailto:a@acme-corp.com", "v=DMARC1; p=none"])
    report = await check(config, expected=expected)
    assert "dmarc_multiple" in codes(report, Severity.ERROR)


@pytest.mark.parametrize(
    "wrong_name",
    ["_dmarc.acme-corp.com.acme-corp.com", "dmarc.acme-corp.com"],
    ids=["zone-appended", "no-underscore"],
)
async def test_dmarc_at_the_wrong_name(config, store, publish, wrong_name):
    expected = publish(D)
    store.delete(f"_dmarc.{D}")
    store.add(wrong_name, "TXT", "v=DMARC1; p=quarantine; rua=mailto:d@acme-corp.com")
    report = await check(config, expected=expected)
    finding = next(f for f in report.findings if f.code == "dmarc_wrong_name")
    assert finding.severity is Severity.ERROR
    assert wrong_name in finding.message
    assert "_dmarc" in finding.fix
    assert report.dmarc_status == "missing"


async def test_dmarc_wrong_name_on_a_subdomain_appends_the_registrable_zone(config, store):
    sub = "mail.acme-corp.com"
    store.publish(expected_for(sub).records)
    store.delete(f"_dmarc.{sub}")
    store.add(f"_dmarc.{sub}.acme-corp.com", "TXT", "v=DMARC1; p=reject")
    report = await check(config, sub, expected_for(sub))
    finding = next(f for f in report.findings if f.code == "dmarc_wrong_name")
    assert "_dmarc.mail" in finding.fix


@pytest.mark.parametrize(
    ("record", "code", "severity"),
    [
        ("v=DMARC1; p=none; rua=mailto:d@acme-corp.com", "dmarc_policy_none", Severity.WARNING),
        ("v=DMARC1; p=reject", "dmarc_no_rua", Severity.OK),  # reports are optional
        ("p=reject; v=DMARC1", "dmarc_syntax", Severity.ERROR),
        ("v=DMARC1; p=bogus; rua=mailto:d@acme-corp.com", "dmarc_no_policy", Severity.WARNING),
        ("v=DMARC1; p=bogus", "dmarc_no_policy", Severity.ERROR),
        ("v=DMARC1; p=reject; adkim=x; rua=mailto:d@acme-corp.com", "dmarc_tag_invalid", Severity.WARNING),
        ("v=DMARC1; p=reject; pct=50; rua=mailto:d@acme-corp.com", "dmarc_removed_tags", Severity.INFO),
    ],
)
async def test_dmarc_content(config, store, publish, record, code, severity):
    expected = publish(D)
    store.set(f"_dmarc.{D}", "TXT", [record])
    report = await check(config, expected=expected)
    assert next(f for f in report.findings if f.code == code).severity is severity


async def test_mx_faults(config, store, publish):
    expected = publish(D)
    store.delete(D, "MX")
    report = await check(config, expected=expected)
    assert (report.mx_status, "mx_missing" in codes(report, Severity.ERROR)) == ("missing", True)

    store.set(D, "MX", ["10 mx1.mailhost.example"])
    report = await check(config, expected=expected)
    assert report.mx_status == "mx1.mailhost.example."
    assert "mx_not_microsoft" in codes(report, Severity.ERROR)

    store.set(D, "MX", ["0 acme-corp-com.mail.protection.outlook.com", "10 mx1.mailhost.example"])
    report = await check(config, expected=expected)
    assert report.mx_status == "acme-corp-com.mail.protection.outlook.com."
    assert "mx_extra_hosts" in codes(report, Severity.WARNING)
    assert "mx_not_microsoft" not in codes(report)

    store.set(D, "MX", ["0 acme-corp-com.r-v1.mx.microsoft"])  # Microsoft's, but not what Graph issued
    report = await check(config, expected=expected)
    assert "mx_not_expected" in codes(report, Severity.WARNING)


async def test_dkim_partial_wrong_target_and_txt_in_place(config, store, publish):
    expected = publish(D)
    store.delete(f"selector2._domainkey.{D}")
    report = await check(config, expected=expected)
    assert report.dkim_status == "partial"
    assert report.selectors == {"selector1": "propagated", "selector2": "missing"}
    assert report.ready_to_enable is False
    missing = next(f for f in report.findings if f.code == "dkim_selector_missing")
    assert expected.dkim_targets["selector2"] in missing.fix

    store.set(f"selector2._domainkey.{D}", "CNAME", ["selector2-acme-corp-com._domainkey.other.onmicrosoft.com"])
    report = await check(config, expected=expected)
    assert report.dkim_status == "mismatch (selector2)"
    assert "dkim_selector_mismatch" in codes(report, Severity.ERROR)

    store.set(f"selector2._domainkey.{D}", "CNAME", [])
    store.add(f"selector2._domainkey.{D}", "TXT", "v=DKIM1; k=rsa; p=MIIB")
    report = await check(config, expected=expected)
    assert "dkim_selector_not_cname" in codes(report, Severity.ERROR)


async def test_cname_at_the_apex(config, store):
    store.add("parking.example.net", "TXT", "v=spf1 -all")
    store.add(D, "CNAME", "parking.example.net")
    report = await check(config, expected=expected_for(D))
    assert "apex_cname" in codes(report, Severity.ERROR)
    assert report.observed["apex_alias"] == "parking.example.net"


async def test_autodiscover(config, store, publish):
    expected = publish(D)
    store.delete(f"autodiscover.{D}")
    report = await check(config, expected=expected)
    assert "autodiscover_missing" in codes(report, Severity.WARNING)


async def test_without_microsoft_values_known_patterns_are_recognised(config, store):
    """`tenantcore check` on any domain: old and new DKIM formats and both MX forms pass."""
    store.add(D, "TXT", "v=spf1 include:spf.protection.outlook.com -all")
    store.add(D, "MX", "0 acme-corp-com.i-v1.mx.microsoft")
    store.add(f"_dmarc.{D}", "TXT", "v=DMARC1; p=reject; rua=mailto:d@acme-corp.com")
    store.add(f"selector1._domainkey.{D}", "CNAME", "selector1-acme-corp-com._domainkey.acme.onmicrosoft.com")
    store.add(
        f"selector2._domainkey.{D}",
        "CNAME",
        "selector2-acme-corp-com._domainkey.acme.q-v1.dkim.mail.microsoft",
    )
    store.add(f"autodiscover.{D}", "CNAME", "autodiscover.outlook.com")
    report = await check(config, expected=None)
    assert report.grade is Severity.OK, report.findings
    assert report.dkim_status == "healthy"

    store.set(f"selector1._domainkey.{D}", "CNAME", ["selector2-acme-corp-com._domainkey.acme.onmicrosoft.com"])
    report = await check(config, expected=None)
    assert report.selectors["selector1"] == "missing"  # selector1 pointing at selector2's key


async def test_timeouts_are_unknown_never_missing(blackhole):
    config = ResolverConfig(nameservers=(blackhole,), timeout=0.2, tries=2)
    report = await check(config, expected=expected_for(D), is_verified=False)
    assert (report.spf_status, report.dkim_status, report.dmarc_status, report.mx_status) == ("unknown",) * 4
    assert report.selectors == {"selector1": "unknown", "selector2": "unknown"}
    assert report.ready_to_enable is False
    assert report.grade is Severity.UNKNOWN
    assert codes(report, Severity.ERROR) == set()
    assert not any("missing" in f.code for f in report.findings)
    assert report.fingerprint is None
    assert "timeout" in next(f for f in report.findings if f.code == "spf_unknown").message


async def test_servfail_is_unknown(servfail_server):
    config = ResolverConfig(nameservers=(servfail_server,), timeout=0.5, tries=1)
    report = await check(config, expected=expected_for(D))
    assert report.grade is Severity.UNKNOWN
    assert "servfail" in next(f for f in report.findings if f.code == "mx_unknown").message


async def test_unknown_never_hides_a_real_error(config, store, publish):
    """An include that times out is unknown, but the missing DMARC is still an error."""
    expected = publish(D)
    store.delete(f"_dmarc.{D}")
    store.set(D, "TXT", ["MS=ms12345678", "v=spf1 include:spf.protection.outlook.com include:x.nowhere-zone -all"])
    report = await check(config, expected=expected)
    assert "spf_include_unknown" in codes(report, Severity.UNKNOWN)  # REFUSED by our server
    assert report.grade is Severity.ERROR


async def test_fingerprint_shows_change_while_the_grade_holds(config, store, publish):
    expected = publish(D)
    first = await check(config, expected=expected)
    again = await check(config, expected=expected)
    assert first.fingerprint == again.fingerprint is not None

    store.set(f"_dmarc.{D}", "TXT", ["v=DMARC1; p=reject; rua=mailto:dmarc@acme-corp.com"])
    changed = await check(config, expected=expected)
    assert changed.grade is first.grade is Severity.OK
    assert changed.fingerprint != first.fingerprint


async def test_a_new_check_sees_a_change_at_once(config, store, publish):
    """Answers are not cached between checks (c-ares would otherwise keep them for the TTL)."""
    expected = publish(D)
    checker = HealthChecker(config)
    assert (await checker.check(D, expected)).mx_status != "missing"
    store.delete(D, "MX")
    assert (await checker.check(D, expected)).mx_status == "missing"


async def test_check_many_keeps_order_and_follows_a_shared_include_once(config, store):
    domains = [f"d{i:03d}-example.com" for i in range(60)]
    for domain in domains:
        store.publish(expected_for(domain).records)
    checker = HealthChecker(config)
    async with checker.run() as run:
        from tenantcore.dnshealth.check import CheckTarget

        reports = [await run.check(CheckTarget(d, expected_for(d))) for d in domains[:1]]
        first_cost = run.session.queries
    reports = await checker.check_many([CheckTarget(d, expected_for(d)) for d in domains])
    assert [r.domain for r in reports] == domains
    assert all(r.grade is Severity.OK for r in reports)
    assert first_cost == 7  # six lookups plus the include, which every other domain then shares


async def test_authoritative_mode_asks_the_zones_own_servers(dns_server, store, publish):
    expected = publish(D)
    config = ResolverConfig(
        nameservers=(dns_server.address,), authoritative=True, authoritative_port=dns_server.port, timeout=1
    )
    report = await check(config, expected=expected)
    assert report.grade is Severity.OK
    assert report.dkim_status == "healthy"


async def test_subdomain_records_live_in_the_parent_zone(config, store):
    sub = "mail.acme-corp.com"
    expected = expected_for(sub)
    store.publish(expected.records)
    assert store.zones() == ["acme-corp.com", "outlook.com"]
    report = await check(config, sub, expected)
    assert report.grade is Severity.OK
    assert expected.first(Purpose.DKIM).name == f"selector1._domainkey.{sub}"


async def test_check_runs_raise_the_gc_threshold_only_while_open(config, store, publish):
    import gc

    from tenantcore.dnshealth.check import RUN_GC_THRESHOLD, CheckTarget

    publish(D)
    before = gc.get_threshold()
    checker = HealthChecker(config)
    async with checker.run() as outer:
        assert gc.get_threshold()[0] == max(RUN_GC_THRESHOLD, before[0])
        async with checker.run() as inner:  # overlapping runs, as the worker's pipelines make
            await inner.check(CheckTarget(D))
        assert gc.get_threshold()[0] == max(RUN_GC_THRESHOLD, before[0])  # the outer run is still open
        await outer.check(CheckTarget(D))
    assert gc.get_threshold() == before
