"""Fixtures every part's tests share: a real authoritative DNS server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantcore.dnshealth.sandbox_dns import SandboxDnsServer, ZoneStore


@pytest.fixture
def store() -> ZoneStore:
    store = ZoneStore()
    # Microsoft's side of the SPF include, as public DNS has it.
    store.add("spf.protection.outlook.com", "TXT", "v=spf1 ip4:40.92.0.0/15 ip4:52.100.0.0/15 -all")
    return store


@pytest.fixture
def dns_server(store: ZoneStore) -> Iterator[SandboxDnsServer]:
    with SandboxDnsServer(store) as server:
        yield server
