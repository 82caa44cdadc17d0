"""Real DNS servers on loopback: the sandbox server, one that drops every query, one that
answers SERVFAIL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnslib import RCODE
from dnslib.server import BaseResolver, DNSServer

from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore

from .m365 import expected_for


@pytest.fixture
def config(dns_server: SandboxDnsServer) -> ResolverConfig:
    return ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=2)


@pytest.fixture
def publish(store: ZoneStore):
    """Publish a healthy Microsoft 365 domain; returns its expected records."""

    def _publish(domain: str):
        expected = expected_for(domain)
        store.publish(expected.records)
        return expected

    return _publish


class _ServfailResolver(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply


@pytest.fixture
def servfail_server() -> Iterator[str]:
    server = DNSServer(_ServfailResolver(), "127.0.0.1", 0)
    server.start_thread()
    yield f"127.0.0.1:{server.server.server_address[1]}"
    server.stop()
    server.server.server_close()
