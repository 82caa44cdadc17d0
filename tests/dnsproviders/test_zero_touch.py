"""Zero-touch onboarding: connect a DNS provider, bulk-add 12 domains, and with no further
call every one ends verified, DKIM-enabled and healthy, its records read back over DNS from
the provider's own server. Through `rfc2136` on Knot and through `lexicon` on PowerDNS; the
sandbox DNS delegates their zones to them, so the emulated Microsoft and the health checks
see what the provider serves, as they would on the Internet."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tenantcore.dnsproviders.base import DnsProvider, RecordSet
from tenantcore.dnsproviders.lexicon import LexiconProvider
from tenantcore.dnsproviders.rfc2136 import Rfc2136Provider
from tenantcore.domains.lifecycle import expected
from tenantcore.domains.models import Domain

from ..dnsservers import ONBOARDING_ZONES, KnotServer, PowerDnsServer
from ..running import Service
from .contract import served

OWN_SPF = "v=spf1 ip4:192.0.2.10 mx ~all"  # the user's own sender
STRICT_DMARC = "v=DMARC1; p=reject; rua=mailto:reports@example.net"
DEADLINE = 120.0  # generous: this proves the outcome; bench/onboarding_bench.py measures the speed


def start(tmp_path: Path, zones: tuple[str, ...], address: str) -> Service:
    return Service(
        tmp_path / "data",
        domain_limit=12,
        sandbox_dns_delegations={zone: address for zone in zones},
        onboarding_poll=1.0,
        worker_idle=0.2,
    )


async def seed(provider: DnsProvider, zones: tuple[str, ...]) -> None:
    """What the user had before TenantCore: their own SPF on one domain, a strict DMARC on another."""
    await provider.replace(zones[1], RecordSet(zones[1], "TXT", (OWN_SPF,)))
    await provider.replace(zones[2], RecordSet(f"_dmarc.{zones[2]}", "TXT", (STRICT_DMARC,)))


async def onboard(service: Service, connect: dict[str, Any], zones: tuple[str, ...]) -> tuple[Any, str]:
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Zero Touch"})).json()["tenant_id"]
        created = await api.post("/v1/dns-providers", json=connect)
        assert created.status_code == 201, created.text
        secret = next(iter(connect["credentials"].values()))
        assert secret not in created.text and created.json()["credential_fields"] == sorted(connect["credentials"])
        bulk = await api.post(f"/v1/tenants/{tenant}/domains/bulk", json={"domains": list(zones)})
        assert bulk.status_code == 200, bulk.text
        assert bulk.json()["added"] == 12, bulk.text
        assert {r["dns_provider"] for r in bulk.json()["results"]} == {connect["name"]}

        # No call from here on: the reconciler publishes, verifies, publishes the DKIM CNAMEs, enables DKIM.
        started = time.monotonic()
        while time.monotonic() - started < DEADLINE:
            async with service.database() as session:
                done = (await session.scalars(select(Domain.name).where(Domain.dkim_enabled.is_(True)))).all()
            if len(done) == 12:
                break
            await asyncio.sleep(0.5)
        async with service.database() as session:
            rows = {d.name: d for d in (await session.scalars(select(Domain))).all()}
        stuck = {
            n: (d.state, d.check_count, bool(d.dns_provider_id), d.dns_applied, d.followup_failures, d.grade)
            for n, d in rows.items()
            if not d.dkim_enabled
        }
        assert not stuck, f"not DKIM-enabled after {DEADLINE:.0f} s: {stuck}"
        for zone in zones:  # a fresh check: healthy, as DNS serves it now
            assert (await api.post(f"/v1/tenants/{tenant}/domains/{zone}/dns-check")).status_code == 200
            health = (await api.get(f"/v1/tenants/{tenant}/domains/{zone}/health")).json()
            assert health["grade"] in ("ok", "info"), (zone, health)
        events = (await api.get("/v1/events", params={"type": "domain.dns_applied"})).json()
        plan = (await api.get(f"/v1/tenants/{tenant}/domains/{zones[0]}/dns/plan")).json()
        assert {r["action"] for r in plan["records"]} == {"unchanged"}, plan
    assert events["total"] >= 12, events
    return rows, tenant


async def check_served(host: str, port: int, rows: dict[str, Domain], zones: tuple[str, ...]) -> None:
    for zone in zones:
        domain = rows[zone]
        txt = await served(host, port, zone, "TXT")
        spf = [t for t in txt if t.startswith("v=spf1")]
        assert len(spf) == 1 and "include:spf.protection.outlook.com" in spf[0], txt
        assert any(t.startswith("MS=") for t in txt) or domain.is_verified
        mx = await served(host, port, zone, "MX")
        assert [m.split()[1] for m in mx] == sorted(expected(domain).mx_hosts), mx
        assert await served(host, port, f"autodiscover.{zone}", "CNAME") == ["autodiscover.outlook.com"]
        for index, selector in enumerate(("selector1", "selector2"), start=1):
            target = domain.dkim_config[f"Selector{index}CNAME"].lower().rstrip(".")  # type: ignore[index]
            assert await served(host, port, f"{selector}._domainkey.{zone}", "CNAME") == [target]
    # What the user had is kept: their SPF merged (its terms and `~all` too), the strict DMARC untouched.
    merged = next(t for t in await served(host, port, zones[1], "TXT") if t.startswith("v=spf1"))
    assert merged == "v=spf1 ip4:192.0.2.10 mx include:spf.protection.outlook.com ~all"
    assert await served(host, port, f"_dmarc.{zones[2]}", "TXT") == [STRICT_DMARC]
    assert (await served(host, port, f"_dmarc.{zones[0]}", "TXT"))[0].startswith("v=DMARC1; p=quarantine")


def assert_secret_absent(service: Service, secret: str, caplog: pytest.LogCaptureFixture) -> None:
    files = [p for p in service.settings.data_dir.rglob("*") if p.is_file()]
    assert files, "no database file to look into"
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"credential in clear in {path}"
    assert secret not in caplog.text


async def test_zero_touch_through_rfc2136_on_knot(
    tmp_path: Path, knot_server: KnotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zones = ONBOARDING_ZONES
    direct = Rfc2136Provider(
        knot_server.host,
        knot_server.port,
        key_name=knot_server.key_name,
        key_secret=knot_server.key_secret,
        policy="loopback",
    )
    await seed(direct, zones)
    service = start(tmp_path, zones, knot_server.address)
    try:
        connect = {
            "name": "knot",
            "kind": "rfc2136",
            "config": {"server": knot_server.host, "port": knot_server.port, "key_name": knot_server.key_name},
            "credentials": {"key_secret": knot_server.key_secret},
            "zone": zones[0],
        }
        rows, _ = await onboard(service, connect, zones)
        await check_served(knot_server.host, knot_server.port, rows, zones)
        assert_secret_absent(service, knot_server.key_secret, caplog)
    finally:
        service.stop()


async def test_zero_touch_through_lexicon_on_powerdns(
    tmp_path: Path, pdns_server: PowerDnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zones = tuple(f"q{i:02d}.test" for i in range(1, 13))
    for zone in zones:
        pdns_server.create_zone(zone)
    direct = LexiconProvider(
        "powerdns",
        {"auth_token": pdns_server.api_key},
        options={"pdns_server": pdns_server.api_url},
        policy="loopback",
    )
    await seed(direct, zones)
    service = start(tmp_path, zones, pdns_server.address)
    try:
        connect = {
            "name": "powerdns",
            "kind": "lexicon",
            "config": {"provider_name": "powerdns", "options": {"pdns_server": pdns_server.api_url}},
            "credentials": {"auth_token": pdns_server.api_key},
            "zone": zones[0],
        }
        rows, _ = await onboard(service, connect, zones)
        await check_served(pdns_server.host, pdns_server.port, rows, zones)
        assert_secret_absent(service, pdns_server.api_key, caplog)
    finally:
        service.stop()
