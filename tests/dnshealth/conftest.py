"""Real DNS servers on loopback: the sandbox server, one that drops every query, one that
answers SERVFAIL."""

from __future__ import annotations

import socket
import threading
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


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A UDP and TCP port that receives queries and never answers."""
    for _ in range(20):  # the free UDP port the kernel picks may be taken on TCP: try another
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
            tcp.close()
    else:
        raise RuntimeError("no port free on both UDP and TCP")
    tcp.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def swallow() -> None:
        udp.settimeout(0.1)
        tcp.settimeout(0.1)
        while not stop.is_set():
            for sock in (udp, tcp):
                try:
                    if sock is udp:
                        sock.recvfrom(4096)
                    else:
                        held.append(sock.accept()[0])
                except OSError:
                    pass

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    yield f"127.0.0.1:{port}"
    stop.set()
    thread.join()
    for sock in (udp, tcp, *held):
        sock.close()


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
