"""What every DNS provider must do, checked by reading the server's DNS port directly with
dnspython (never through the provider): what is served is what counts."""

from __future__ import annotations

import dns.asyncquery
import dns.message
import dns.name
import dns.rdatatype

from tenantcore.dnsproviders import DnsProvider, RecordSet

LONG_TXT = "v=DKIM1; k=rsa; p=" + "A" * 282  # 300 bytes: two character-strings on the wire


async def served(host: str, port: int, name: str, rtype: str) -> list[str]:
    """The values `host:port` serves for (name, rtype): TXT strings joined, hosts lower case."""
    query = dns.message.make_query(name + ".", rtype)
    response = await dns.asyncquery.tcp(query, host, port=port, timeout=3)
    rrset = response.get_rrset(
        response.answer, dns.name.from_text(name + "."), dns.rdataclass.IN, dns.rdatatype.from_text(rtype)
    )
    if rrset is None:
        return []
    if rtype == "TXT":
        return sorted(b"".join(r.strings).decode() for r in rrset)
    if rtype == "MX":
        return sorted(f"{r.preference} {r.exchange.to_text(omit_final_dot=True).lower()}" for r in rrset)
    return sorted(r.target.to_text(omit_final_dot=True).lower() for r in rrset)


async def txt_strings(host: str, port: int, name: str) -> list[list[bytes]]:
    response = await dns.asyncquery.tcp(dns.message.make_query(name + ".", "TXT"), host, port=port, timeout=3)
    return [list(r.strings) for rrset in response.answer for r in rrset]


async def check_find_zone(provider: DnsProvider, zone: str) -> None:
    assert await provider.find_zone(zone) == zone
    assert await provider.find_zone(f"mail.{zone}") == zone
    assert await provider.find_zone(f"selector1._domainkey.mail.{zone.upper()}.") == zone
    assert await provider.find_zone("nowhere.invalid") is None


async def check_lifecycle(provider: DnsProvider, zone: str, host: str, port: int) -> None:
    """replace creates, replace again updates (old value gone), delete removes, for each type."""
    name = f"lifecycle.{zone}"
    await provider.replace(zone, RecordSet(name, "TXT", ("MS=ms12345678",), 300))
    assert await served(host, port, name, "TXT") == ["MS=ms12345678"]
    spf = "v=spf1 include:spf.protection.outlook.com -all"
    await provider.replace(zone, RecordSet(name, "TXT", (spf, "MS=ms87654321"), 300))
    assert await served(host, port, name, "TXT") == sorted([spf, "MS=ms87654321"])
    await provider.replace(zone, RecordSet(name, "TXT", (spf,), 300))
    assert await served(host, port, name, "TXT") == [spf]

    await provider.replace(zone, RecordSet(name, "MX", ("10 acme-com.mail.protection.outlook.com",), 300))
    assert await served(host, port, name, "MX") == ["10 acme-com.mail.protection.outlook.com"]
    await provider.replace(zone, RecordSet(name, "MX", ("0 other.mail.protection.outlook.com",), 300))
    assert await served(host, port, name, "MX") == ["0 other.mail.protection.outlook.com"]

    read = {r.rtype: r for r in await provider.read(zone, name)}
    assert set(read) == {"TXT", "MX"}
    assert read["TXT"].values == (spf,)
    assert read["MX"].values == ("0 other.mail.protection.outlook.com",)
    assert read["MX"].name == name

    await provider.delete(zone, name, "TXT")
    assert await served(host, port, name, "TXT") == []
    assert await served(host, port, name, "MX") == ["0 other.mail.protection.outlook.com"]
    await provider.delete(zone, name, "MX")
    assert await served(host, port, name, "MX") == []
    assert await provider.read(zone, name) == []
    await provider.delete(zone, name, "MX")  # absent: a no-op


async def check_txt_forms(provider: DnsProvider, zone: str, host: str, port: int) -> None:
    name = f"_dmarc.{zone}"
    spaced = 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com; note="quoted"'
    await provider.replace(zone, RecordSet(name, "TXT", (spaced,)))
    assert await served(host, port, name, "TXT") == [spaced]
    long_name = f"selector1._domainkey.{zone}"
    await provider.replace(zone, RecordSet(long_name, "TXT", (LONG_TXT,)))
    assert await served(host, port, long_name, "TXT") == [LONG_TXT]
    assert [len(s) for s in (await txt_strings(host, port, long_name))[0]] == [255, 45]
    assert [r.values for r in await provider.read(zone, long_name)] == [(LONG_TXT,)]


async def check_cname_outside_zone(provider: DnsProvider, zone: str, host: str, port: int) -> None:
    name = f"autodiscover.{zone}"
    await provider.replace(zone, RecordSet(name, "CNAME", ("autodiscover.outlook.com",)))
    assert await served(host, port, name, "CNAME") == ["autodiscover.outlook.com"]
    assert await provider.read(zone, name) == [RecordSet(name, "CNAME", ("autodiscover.outlook.com",))]
    await provider.replace(zone, RecordSet(name, "CNAME", ("Autodiscover.Outlook.COM.",)))  # same, written another way
    assert await served(host, port, name, "CNAME") == ["autodiscover.outlook.com"]
    await provider.delete(zone, name, "CNAME")
    assert await served(host, port, name, "CNAME") == []


async def check_change_keeps_what_others_added(provider: DnsProvider, zone: str, host: str, port: int) -> None:
    """A change planned on what was read removes only what went and adds what came: a value
    someone added between the read and the write (an ACME challenge, say) is still served."""
    name = f"race.{zone}"
    await provider.replace(zone, RecordSet(name, "TXT", ("ours-old",)))
    planned_on = ("ours-old",)
    await provider.replace(zone, RecordSet(name, "TXT", ("ours-old", "acme-challenge-xyz")))  # someone else
    await provider.change(zone, RecordSet(name, "TXT", ("ours-new",)), planned_on)
    assert await served(host, port, name, "TXT") == ["acme-challenge-xyz", "ours-new"]
    await provider.change(zone, RecordSet(name, "TXT", ()), ("ours-new",))  # taking ours back
    assert await served(host, port, name, "TXT") == ["acme-challenge-xyz"]
