"""RecordSet values ⇄ DNS rdata, through dnspython (one place knows the wire forms)."""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT

from tenantcore.dnsproviders.base import normalize_value

IN = dns.rdataclass.IN
TXT_CHUNK = 255  # a TXT character-string holds at most 255 bytes


def to_rdata(rtype: str, value: str) -> dns.rdata.Rdata:
    """One RecordSet value as dnspython rdata; TXT text longer than 255 bytes is split into
    255-byte character-strings (resolvers join them back)."""
    if rtype == "TXT":
        data = value.encode()
        chunks = [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]
        return TXT(IN, dns.rdatatype.TXT, chunks)
    if rtype == "MX":
        preference, _, host = normalize_value("MX", value).partition(" ")
        return MX(IN, dns.rdatatype.MX, int(preference), dns.name.from_text(host))
    if rtype == "CNAME":
        return CNAME(IN, dns.rdatatype.CNAME, dns.name.from_text(normalize_value("CNAME", value)))
    raise ValueError(f"unsupported record type {rtype}")


def from_rdata(rdata: dns.rdata.Rdata) -> str:
    """dnspython rdata as a RecordSet value."""
    if isinstance(rdata, TXT):
        return b"".join(rdata.strings).decode(errors="replace")
    if isinstance(rdata, MX):
        return normalize_value("MX", f"{rdata.preference} {rdata.exchange.to_text()}")
    if isinstance(rdata, CNAME):
        return normalize_value("CNAME", rdata.target.to_text())
    raise ValueError(f"unsupported rdata {rdata!r}")


def to_text(rtype: str, value: str) -> str:
    """Zone-file presentation of a value: TXT quoted and split, host names with the final dot."""
    return to_rdata(rtype, value).to_text()


def from_text(rtype: str, text: str) -> str:
    return from_rdata(dns.rdata.from_text(IN, rtype, text))
