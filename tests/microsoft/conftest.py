"""The Microsoft 365 emulator on loopback HTTP, consulting the sandbox DNS server, and the
real clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.emulator import EmulatorState, ThreadedServer, create_app
from tenantcore.emulator.state import Tenant
from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig
from tenantcore.sandbox.dns_server import SandboxDnsServer

CLIENT_ID = "5f2f8c1e-0c55-4f8e-9d7a-4b1f3c6e2a10"
SECRET = "emulator-secret-value"
CONTROL_TOKEN = "emulator-control-token"
CONTROL = {"X-Emulator-Token": CONTROL_TOKEN}  # what /_emulator takes


@pytest.fixture
def state() -> EmulatorState:
    state = EmulatorState(seed=7)
    state.add_app(CLIENT_ID, secret=SECRET)
    return state


@pytest.fixture
def emulator(state: EmulatorState, dns_server: SandboxDnsServer) -> Iterator[ThreadedServer]:
    app = create_app(state, ResolverConfig(nameservers=(dns_server.address,), timeout=0.5, tries=2), CONTROL_TOKEN)
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture
def tenant(state: EmulatorState) -> Tenant:
    return state.create_tenant("Contoso", consent_app=CLIENT_ID)


def make_clients(emulator: ThreadedServer, **overrides) -> MicrosoftClients:
    config = MicrosoftConfig(CLIENT_ID, **({"client_secret": SECRET} | overrides))
    return MicrosoftClients.create(config, emulator=emulator.url)


@pytest.fixture
async def ms(emulator: ThreadedServer) -> AsyncIterator[MicrosoftClients]:
    clients = make_clients(emulator, backoff_base=0.01)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    clients.http.sleep = record
    clients.waits = waits  # type: ignore[attr-defined]
    yield clients
    await clients.aclose()
