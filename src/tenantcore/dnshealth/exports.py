"""Expected records as the API's JSON shape, a BIND zone-file snippet, and registrar CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT

from tenantcore.dnshealth.names import fqdn, registrable_zone, relative_to
from tenantcore.dnshealth.records import DnsRecord, ExpectedRecords, Purpose

_GRAPH_TYPES = {"TXT": "domainDnsTxtRecord", "MX": "domainDnsMxRecord", "CNAME": "domainDnsCnameRecord"}


def api_record(record: DnsRecord, domain: str) -> dict[str, Any]:
    """The spec's record shape: Graph's type names, label relative to the domain (`@` = apex)."""
    out: dict[str, Any] = {
        "recordType": _GRAPH_TYPES[record.rtype],
        "label": relative_to(record.name, domain),
    }
    if record.rtype == "TXT":
        out["text"] = record.value
    elif record.rtype == "MX":
        out["mailExchange"] = record.value
        out["preference"] = record.preference or 0
    else:
        out["canonicalName"] = record.value
    out["ttl"] = record.ttl
    return out


def api_records(expected: ExpectedRecords) -> dict[str, list[dict[str, Any]]]:
    """`verification_dns_records` and `service_configuration_records` as the API returns them."""
    verification = [api_record(r, expected.domain) for r in expected.of(Purpose.VERIFICATION)]
    service = [api_record(r, expected.domain) for r in expected.records if r.purpose is not Purpose.VERIFICATION]
    return {"verification_dns_records": verification, "service_configuration_records": service}


def _chunks(text: str, size: int = 255) -> list[bytes]:
    # A TXT character-string holds at most 255 bytes; long values (DKIM keys, long SPF) are
    # split into several strings, which receivers concatenate.
    data = text.encode()
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def rdata_text(record: DnsRecord) -> str:
    """The record's RDATA in presentation format (quoted and split TXT, absolute names)."""
    rdclass = dns.rdataclass.IN
    if record.rtype == "TXT":
        rdata: Any = TXT(rdclass, dns.rdatatype.TXT, _chunks(record.value))
    elif record.rtype == "MX":
        rdata = MX(rdclass, dns.rdatatype.MX, record.preference or 0, dns.name.from_text(record.value))
    elif record.rtype == "CNAME":
        rdata = CNAME(rdclass, dns.rdatatype.CNAME, dns.name.from_text(record.value))
    else:  # pragma: no cover - records are built from the three types above
        raise ValueError(f"unsupported record type {record.rtype}")
    return rdata.to_text()


def to_bind(records: Iterable[DnsRecord], zone: str | None = None) -> str:
    """A zone-file snippet with `$ORIGIN` set to the registrable zone, ready to paste or import."""
    records = list(records)
    if not records:
        return ""
    zone = zone or registrable_zone(records[0].name)
    lines = [f"$ORIGIN {fqdn(zone)}"]
    for record in records:
        host = relative_to(record.name, zone)
        lines.append(f"{host}\t{record.ttl}\tIN\t{record.rtype}\t{rdata_text(record)}")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("host", "type", "value", "ttl", "priority")


def to_csv(records: Iterable[DnsRecord], zone: str | None = None) -> str:
    """CSV for a registrar's bulk import: host relative to the zone (`@` for the apex), type,
    value as typed into a web form (unquoted TXT, names without trailing dot), TTL, and the MX
    priority (empty for other types)."""
    records = list(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    if records:
        zone = zone or registrable_zone(records[0].name)
        for record in records:
            priority = "" if record.rtype != "MX" else str(record.preference or 0)
            writer.writerow((relative_to(record.name, zone), record.rtype, record.value, record.ttl, priority))
    return buffer.getvalue()
