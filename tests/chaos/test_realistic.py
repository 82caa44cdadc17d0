"""Onboarding on Microsoft's bad days: the emulator's realistic profile (replication lag,
Exchange and consent lags, DKIM keys made asynchronously, pre-existing configs, names as in
the wild), with its delays in tenths of a second. Twelve domains are added and their records
published (by an operator's script that republishes what TenantCore lists, as one would
without a DNS provider); everything else is the reconciler's. Every domain must end verified
with DKIM on, TenantCore and Microsoft must list the same domains, and an adopted domain must
keep every service it had. The same under a throttling storm, and with consent revoked and
restored midway."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import httpx
import pytest

from ..running import Service
from .helpers import duplicated, events, server_errors

LAGS = {
    "sandbox_profile": "realistic",
    "sandbox_replication_lag": 0.3,
    "sandbox_consent_lag": 0.3,
    "sandbox_exchange_role_lag": 0.5,
    "sandbox_accepted_lag": 0.5,
    "sandbox_takeover_accepted_lag": 1.0,
    "sandbox_dkim_key_delay": 0.3,
    "sandbox_cname_sync_lag": 0.5,
}
FAST = {"check_interval": 0.3, "worker_idle": 0.05, "followup_backoff": 0.2, "exchange_probe_interval": 0.3}
ADOPTED = "legacy.acme-corp.com"
NEW = [f"d{i:02d}.acme-corp.com" for i in range(11)]


async def onboard(service: Service, api: httpx.AsyncClient, within: float, midway=None) -> None:
    state = service.runtime.sandbox.state
    responses: list[httpx.Response] = []
    connected = await api.post("/v1/tenants", json={"tenant_name": "Acme"})
    assert connected.status_code == 201, connected.text
    tenant_id = connected.json()["tenant_id"]
    base = f"/v1/tenants/{tenant_id}/domains"
    # A domain the customer had already, with Teams and Intune on it.
    state.add_existing_domain(tenant_id, ADOPTED)
    responses.append(await api.post(f"/v1/tenants/{tenant_id}/sync"))
    responses.extend(await asyncio.gather(*(api.post(base, json={"domain": n}) for n in NEW)))

    async def operator_publishes() -> None:  # the script an operator without a DNS provider runs
        while True:
            for name in [ADOPTED, *NEW]:
                with contextlib.suppress(httpx.TransportError):
                    responses.append(await api.post(f"{base}/{name}/dns/publish"))
            await asyncio.sleep(0.3)

    publisher = asyncio.create_task(operator_publishes())
    try:
        if midway is not None:
            await midway(state, tenant_id)
        deadline = time.monotonic() + within
        while True:
            listed = (await api.get(base)).json()["domains"]
            statuses = [(await api.get(f"{base}/{d['domain_name']}/dkim-status")).json() for d in listed]
            if len(listed) == 12 and all(s.get("dkim_status") == "enabled" for s in statuses):
                break
            assert time.monotonic() < deadline, f"not onboarded within {within} s: {statuses}"
            await asyncio.sleep(0.3)
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
    emulated = state.tenants[tenant_id]
    assert state.profile.name == "realistic"
    assert any(n.endswith(".mail.onmicrosoft.com") for n in emulated.domains)  # listed, never adopted
    ours = {d.name for d in emulated.domains.values() if not d.name.endswith(".onmicrosoft.com")}
    assert {d["domain_name"] for d in listed} == ours == {ADOPTED, *NEW}  # none lost, none extra
    assert all(d["is_verified"] for d in listed)
    assert all(emulated.dkim[name].enabled for name in ours)
    assert set(emulated.domains[ADOPTED].supported_services) >= {"Email", "OfficeCommunicationsOnline", "Intune"}
    assert not server_errors(responses)
    assert not duplicated(await events(api), Counter([ADOPTED, *NEW]))


@pytest.fixture
def realistic(tmp_path, request):
    running = Service(tmp_path / "data", **LAGS, **FAST, **getattr(request, "param", {}))
    yield running
    running.stop()


async def test_twelve_domains_onboard_themselves_on_a_slow_day(realistic):
    async with realistic.client(realistic.keys["test"]) as api:
        await onboard(realistic, api, within=60)


@pytest.mark.parametrize("realistic", [{"sandbox_throttle_ru_per_10s": 60}], indirect=True)
async def test_twelve_domains_onboard_through_a_throttling_storm(realistic):
    async with realistic.client(realistic.keys["test"]) as api:
        await onboard(realistic, api, within=90)
    assert any(c.status in (429, 503) for c in realistic.runtime.sandbox.state.calls), "no storm happened"


@pytest.mark.parametrize("realistic", [{"sandbox_token_lifetime": 1}], indirect=True)
async def test_twelve_domains_onboard_with_consent_revoked_and_restored(realistic):
    client_id = realistic.runtime.sandbox.client_id

    async def revoke_then_restore(state, tenant_id: str) -> None:
        await asyncio.sleep(1.0)
        state.revoke_consent(tenant_id, client_id)
        await asyncio.sleep(2.0)  # tokens expire (1 s): every call fails meanwhile
        state.restore_consent(tenant_id, client_id)

    async with realistic.client(realistic.keys["test"]) as api:
        await onboard(realistic, api, within=90, midway=revoke_then_restore)
