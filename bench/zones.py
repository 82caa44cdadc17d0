"""Generated Microsoft 365 domains served by Knot on a loopback port (shared by benchmarks).

Each zone looks like a real M365 sending domain (MS= TXT, SPF, MX to outlook, DMARC, two
DKIM CNAMEs, autodiscover). Faults repeat every 10 domains, as in the reference measurements:
i%10 == 1 two SPF records, 2 no SPF, 3 DMARC at `dmarc.` instead of `_dmarc.`, 4 no DKIM CNAMEs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FAULTS = {1: "spf_multiple", 2: "spf_missing", 3: "dmarc_wrong_name", 4: "dkim_selector_missing"}


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


def free_port() -> int:
    """A loopback port free on both UDP and TCP (knotd listens on both): a UDP-free port can
    be some client's ephemeral TCP port."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no loopback port free on both UDP and TCP")


@contextmanager
def knot(count: int, workers: int = 1) -> Iterator[int]:
    """Write `count` zones, start knotd on a free loopback port, yield the port, stop it."""
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if not os.path.exists(knotd):
        raise SystemExit("knotd not found: run `./dev bench ...` (it installs Debian's knot) or apt-get install knot")
    root = Path(tempfile.mkdtemp(prefix="tc-knot-"))
    (root / "zones").mkdir()
    (root / "db").mkdir()
    (root / "run").mkdir()
    names = [domain_name(i) for i in range(count)]
    for i, name in enumerate(names):
        (root / "zones" / f"{name}.zone").write_text(zone_text(i))
    (root / "zones" / "outlook.com.zone").write_text(OUTLOOK_ZONE)
    (root / "zones" / "sendgrid.net.zone").write_text(SENDGRID_ZONE)
    zone_lines = "\n".join(f"  - domain: {n}" for n in [*names, "outlook.com", "sendgrid.net"])
    for attempt in range(5):  # the port can still be taken between our check and knotd's bind
        port = free_port()
        proc = _start_knot(knotd, root, port, workers, zone_lines)
        try:
            _wait_for(port, names[-1], proc)
            break
        except PortTaken:
            proc.wait(timeout=10)
            if attempt == 4:
                shutil.rmtree(root, ignore_errors=True)
                raise SystemExit("knotd could not bind a free port in 5 attempts") from None
        except BaseException:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(root, ignore_errors=True)
            raise
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


class PortTaken(Exception):
    pass


def _start_knot(knotd: str, root: Path, port: int, workers: int, zone_lines: str) -> subprocess.Popen[bytes]:
    (root / "knot.conf").write_text(
        f"""server:
  rundir: {root}/run
  listen: 127.0.0.1@{port}
  udp-workers: {workers}
  tcp-workers: 1
  background-workers: 1
database:
  storage: {root}/db
template:
  - id: default
    storage: {root}/zones
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{zone_lines}
"""
    )
    return subprocess.Popen([knotd, "-c", str(root / "knot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(port: int, last: str, proc: subprocess.Popen[bytes]) -> None:
    import dns.message
    import dns.query
    import dns.rcode

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            error = proc.stderr.read().decode() if proc.stderr else ""
            if "address already in use" in error:
                raise PortTaken(error)
            raise SystemExit(f"knotd exited: {error}")
        try:
            answer = dns.query.udp(dns.message.make_query(last, "TXT"), "127.0.0.1", port=port, timeout=0.5)
            if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("knotd did not load the zones within 120 s")
