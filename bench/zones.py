"""Generated Microsoft 365 domains served by Knot on a loopback port (shared by benchmarks).

Each zone looks like a real M365 sending domain (MS= TXT, SPF, MX to outlook, DMARC, two
DKIM CNAMEs, autodiscover). Faults repeat every 10 domains, as in the reference measurements:
i%10 == 1 two SPF records, 2 no SPF, 3 DMARC at `dmarc.` instead of `_dmarc.`, 4 no DKIM CNAMEs.

Three fake blocklist zones (`BLOCKLISTS`, read as Spamhaus DBL, SURBL and URIBL) answer
NXDOMAIN for almost every domain, as the real lists do; every hundredth domain (i%100 == 7)
is listed on the DBL one as spam (127.0.1.2).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tenantcore.sandbox.knot import KnotNotInstalled, running_knot

FAULTS = {1: "spf_multiple", 2: "spf_missing", 3: "dmarc_wrong_name", 4: "dkim_selector_missing"}
BLOCKLISTS = ("spamhaus:dbl.bench-bl", "surbl:multi.surbl.bench-bl", "uribl:multi.uribl.bench-bl")
LISTED_EVERY, LISTED_AT = 100, 7


def blocklisted(i: int) -> bool:
    return i % LISTED_EVERY == LISTED_AT


def blocklist_zones(count: int) -> dict[str, str]:
    zones = {}
    for entry in BLOCKLISTS:
        zone = entry.split(":", 1)[1]
        lines = ["$TTL 0", f"@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 0", f"@ NS ns.{zone}."]
        if zone.startswith("dbl."):
            lines += [f"{domain_name(i)} A 127.0.1.2" for i in range(count) if blocklisted(i)]
        zones[zone] = "\n".join(lines) + "\n"
    return zones


def domain_name(i: int) -> str:
    return f"d{i:06d}-example.com"


def graph_records(i: int) -> dict[str, Any]:
    """What Graph and Exchange return for domain i (the expected records' inputs)."""
    d = domain_name(i)
    token = d.replace(".", "-")
    return {
        "verification": [{"recordType": "Txt", "label": d, "text": f"MS=ms{i:08d}", "ttl": 3600}],
        "service": [
            {
                "recordType": "Mx",
                "label": d,
                "mailExchange": f"{token}.mail.protection.outlook.com",
                "preference": 0,
            },
            {"recordType": "Txt", "label": d, "text": "v=spf1 include:spf.protection.outlook.com -all"},
            {
                "recordType": "CName",
                "label": f"autodiscover.{d}",
                "canonicalName": "autodiscover.outlook.com",
            },
        ],
        "dkim_config": {
            "Selector1CNAME": f"selector1-{token}._domainkey.tenant{i % 500}.n-v1.dkim.mail.microsoft",
            "Selector2CNAME": f"selector2-{token}._domainkey.tenant{i % 500}.n-v1.dkim.mail.microsoft",
        },
    }


def zone_text(i: int) -> str:
    d = domain_name(i)
    g = graph_records(i)
    fault = i % 10
    lines = [
        "$TTL 0",  # no resolver cache can inflate the figures
        f"@ SOA ns.{d}. hostmaster.{d}. 1 3600 600 86400 0",
        "@ NS ns",
        "ns A 127.0.0.1",
        f'@ TXT "MS=ms{i:08d}"',
        f"@ MX 0 {g['service'][0]['mailExchange']}.",
        "autodiscover CNAME autodiscover.outlook.com.",
        "track CNAME r.tracking.example.",
    ]
    if fault != 2:
        lines.append('@ TXT "v=spf1 include:spf.protection.outlook.com -all"')
    if fault == 1:
        lines.append('@ TXT "v=spf1 include:sendgrid.net -all"')
    dmarc = f'TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{d}"'
    lines.append(f"dmarc {dmarc}" if fault == 3 else f"_dmarc {dmarc}")
    if fault != 4:
        lines.append(f"selector1._domainkey CNAME {g['dkim_config']['Selector1CNAME']}.")
        lines.append(f"selector2._domainkey CNAME {g['dkim_config']['Selector2CNAME']}.")
    return "\n".join(lines) + "\n"


OUTLOOK_ZONE = """$TTL 0
@ SOA ns.outlook.com. hostmaster.outlook.com. 1 3600 600 86400 0
@ NS ns
ns A 127.0.0.1
spf.protection TXT "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:104.47.0.0/17 -all"
*.mail.protection A 52.101.68.5
autodiscover A 52.98.0.1
"""
SENDGRID_ZONE = """$TTL 0
@ SOA ns.sendgrid.net. hostmaster.sendgrid.net. 1 3600 600 86400 0
@ NS ns
ns A 127.0.0.1
@ TXT "v=spf1 ip4:167.89.0.0/17 ~all"
"""


@contextmanager
def knot(count: int, workers: int = 1) -> Iterator[int]:
    """Write `count` zones (plus outlook.com, sendgrid.net and the blocklist zones), start knotd
    on a free loopback port, yield the port, stop it."""
    texts = {domain_name(i): zone_text(i) for i in range(count)}
    texts |= {"outlook.com": OUTLOOK_ZONE, "sendgrid.net": SENDGRID_ZONE} | blocklist_zones(count)
    # The last zone written is the one waited for: a domain's, the bulk of the load.
    last = domain_name(count - 1)
    texts[last] = texts.pop(last)
    try:
        with running_knot(texts, udp_workers=workers) as server:
            yield server.port
    except KnotNotInstalled as exc:
        raise SystemExit(f"{exc}: run `./dev bench ...` (it installs Debian's knot)") from None
