"""Fixtures every part's tests share: a real authoritative DNS server on loopback, a fresh
PostgreSQL database, and the whole service running on loopback HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore

from .dnsservers import knot_server, pdns_server  # noqa: F401  (fixtures for tests/dnsproviders)
from .running import Service


@pytest.fixture
def store() -> ZoneStore:
    store = ZoneStore()
    # Microsoft's side of the SPF include, as public DNS has it.
    store.add("spf.protection.outlook.com", "TXT", "v=spf1 ip4:40.92.0.0/15 ip4:52.100.0.0/15 -all")
    return store


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


@pytest.fixture
def dns_server(store: ZoneStore) -> Iterator[SandboxDnsServer]:
    with SandboxDnsServer(store) as server:
        yield server


async def _postgres(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped afterwards. Skips, saying why,
    only where no server answers (CI machines have one on 127.0.0.1:5432)."""
    import asyncio
    import uuid

    name = f"tc_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_postgres(f"CREATE DATABASE {name}"))
    except OSError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc}); CI machines have one")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that asks for it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path / "data", domain_limit=12)
    yield running
    running.stop()


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with service.client(service.keys["test"]) as client:
        yield client


@pytest.fixture
async def tenant_id(api: httpx.AsyncClient) -> str:
    response = await api.post("/v1/tenants", json={"tenant_name": "Acme"})
    assert response.status_code == 201, response.text
    return response.json()["tenant_id"]
