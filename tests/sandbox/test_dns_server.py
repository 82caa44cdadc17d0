"""The sandbox DNS server answers like an authoritative server, over UDP and TCP."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode

from tenantcore.dnshealth.records import DnsRecord, Purpose
from tenantcore.sandbox.dns_server import load_zone_file


def ask(server, name, rtype, tcp=False, edns=True):
    query = dns.message.make_query(name, rtype, use_edns=0 if edns else False, payload=1232)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=server.port, timeout=2)


def test_answers_nxdomain_nodata_and_refused(dns_server, store):
    store.add("acmecorp.com", "TXT", "hello")
    store.add("a.b.acmecorp.com", "TXT", "deep")
    answer = ask(dns_server, "acmecorp.com", "TXT")
    assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
    assert answer.answer[0].to_text().endswith('"hello"')
    nodata = ask(dns_server, "acmecorp.com", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    assert ask(dns_server, "nope.acmecorp.com", "TXT").rcode() == dns.rcode.NXDOMAIN
    assert ask(dns_server, "b.acmecorp.com", "TXT").rcode() == dns.rcode.NOERROR  # empty non-terminal
    assert ask(dns_server, "other.org", "TXT").rcode() == dns.rcode.REFUSED
    assert ask(dns_server, "acmecorp.com", "TXT", tcp=True).answer


def test_long_txt_truncates_without_edns_and_arrives_over_tcp(dns_server, store):
    key = "v=DKIM1; k=rsa; p=" + "A" * 400
    store.add("selector1._domainkey.acmecorp.com", "TXT", key)
    store.add("selector1._domainkey.acmecorp.com", "TXT", key + "B" * 100)
    assert ask(dns_server, "selector1._domainkey.acmecorp.com", "TXT", edns=False).flags & dns.flags.TC
    full = ask(dns_server, "selector1._domainkey.acmecorp.com", "TXT", tcp=True, edns=False)
    assert len(full.answer[0]) == 2


def test_cname_is_returned_and_chased_inside_the_store(dns_server, store):
    store.add("track.acmecorp.com", "CNAME", "target.acmecorp.com")
    store.add("target.acmecorp.com", "TXT", "there")
    answer = ask(dns_server, "track.acmecorp.com", "TXT")
    assert [rrset.rdtype for rrset in answer.answer] == [dns.rdatatype.CNAME, dns.rdatatype.TXT]


def test_publish_replaces_spf_and_cnames_but_keeps_other_txt(store):
    store.add("acmecorp.com", "TXT", "google-site-verification=abc")
    store.add("acmecorp.com", "TXT", "v=spf1 include:old.example -all")
    store.add("selector1._domainkey.acmecorp.com", "TXT", "stray")
    store.publish(
        [
            DnsRecord(Purpose.SPF, "TXT", "acmecorp.com", "v=spf1 include:spf.protection.outlook.com -all"),
            DnsRecord(Purpose.DKIM, "CNAME", "selector1._domainkey.acmecorp.com", "s1.example", selector="selector1"),
            DnsRecord(Purpose.MX, "MX", "acmecorp.com", "acmecorp-com.mail.protection.outlook.com", preference=0),
        ]
    )
    assert sorted(store.values("acmecorp.com", "TXT")) == [
        "google-site-verification=abc",
        "v=spf1 include:spf.protection.outlook.com -all",
    ]
    assert store.values("selector1._domainkey.acmecorp.com", "TXT") == []
    assert store.values("acmecorp.com", "MX") == ["0 acmecorp-com.mail.protection.outlook.com"]


def test_bind_zone_files_load(tmp_path, store):
    path = tmp_path / "acmecorp.com.zone"
    path.write_text(
        "$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\n"
        '@ IN TXT "v=spf1 -all"\n@ IN MX 0 acmecorp-com.mail.protection.outlook.com.\n'
        "selector1._domainkey IN CNAME s1.example.\n"
    )
    assert load_zone_file(store, path) == "acmecorp.com"
    assert store.values("acmecorp.com", "MX") == ["0 acmecorp-com.mail.protection.outlook.com"]
    assert store.values("selector1._domainkey.acmecorp.com", "CNAME") == ["s1.example"]


def test_the_sandbox_keeps_its_state_files_private(tmp_path):
    """The emulator's state holds client secrets: only the service's user may read it."""
    from tenantcore.sandbox import Sandbox

    sandbox = Sandbox(tmp_path).start()
    try:
        sandbox.create_tenant("Private")
    finally:
        sandbox.stop()
    files = list((tmp_path / "sandbox").glob("*.json"))
    assert {f.name for f in files} == {"zones.json", "emulator.json"}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
