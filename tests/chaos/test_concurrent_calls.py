"""Many calls on one domain at once, with Microsoft slow, on SQLite and PostgreSQL: no 5xx, no
lost update, no deleted domain coming back, no event twice, and TenantCore's list equal to
Microsoft's within one reconciler cycle."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx

from tenantcore.emulator import Fault

from ..running import Service
from .helpers import duplicated, events, eventually, local_view, server_errors

D = "mail.acme-corp.com"
ROUNDS = 8


def microsoft_view(service: Service, tenant_id: str) -> dict[str, bool]:
    return {
        d.name: d.is_verified
        for d in service.runtime.sandbox.state.tenants[tenant_id].domains.values()
        if not d.is_initial
    }


async def test_concurrent_mixed_calls_on_one_domain(service, api, tenant_id):
    state = service.runtime.sandbox.state
    # Microsoft slow on every Exchange and Graph call widens every race window.
    state.inject(Fault("latency", "exchange", count=-1, latency=0.15))
    state.inject(Fault("latency", "graph", "/domains/", count=-1, latency=0.05))
    base = f"/v1/tenants/{tenant_id}/domains"
    lives: Counter[str] = Counter()
    responses: list[httpx.Response] = []

    async def add_and_publish() -> None:
        added = await api.post(base, json={"domain": D})
        responses.append(added)
        if added.status_code == 201:
            lives[D] += 1
        responses.append(await api.post(f"{base}/{D}/dns/publish"))

    calls = [
        ("POST", "verify"),
        ("POST", "verify"),
        ("POST", "enable-dkim"),
        ("POST", "enable-dkim"),
        ("GET", "dkim-status"),
        ("GET", "dkim-status"),
        ("POST", "dns/publish"),
        ("POST", "dns/publish"),
        ("POST", "dns-check"),
        ("POST", "dns-check"),
        ("GET", "dns"),
        ("DELETE", ""),
    ]
    rng = random.Random(11)
    for _ in range(ROUNDS):
        if D not in await local_view(api, tenant_id):
            await add_and_publish()
        rng.shuffle(calls)
        batch = await asyncio.gather(*(api.request(method, f"{base}/{D}/{path}".rstrip("/")) for method, path in calls))
        responses.extend(batch)
        assert {r.status_code for r in batch} <= {200, 204, 400, 404, 409}, [r.text for r in batch]

    assert not server_errors(responses)
    # Whatever the last round left, TenantCore and Microsoft agree within one cycle.
    await eventually(lambda: _agree(service, api, tenant_id), within=10, what="local domains equal Microsoft's domains")
    assert not duplicated(await events(api), lives)
    # The tenant is not blocked: another add works.
    assert (await api.post(base, json={"domain": "next.acme-corp.com"})).status_code == 201


async def _agree(service: Service, api: httpx.AsyncClient, tenant_id: str) -> bool:
    return await local_view(api, tenant_id) == microsoft_view(service, tenant_id)


async def test_a_domain_deleted_under_a_slow_call_stays_deleted(tmp_path, database_url):
    # Exchange does not know the verified domain yet, so dkim-status asks it for the keys.
    lagging = Service(tmp_path / "lag", database_url=database_url, sandbox_accepted_lag=60)
    try:
        async with lagging.client(lagging.keys["test"]) as api:
            tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Lag"})).json()["tenant_id"]
            await _delete_under_a_slow_call(lagging, api, tenant_id)
    finally:
        lagging.stop()


async def _delete_under_a_slow_call(service: Service, api: httpx.AsyncClient, tenant_id: str) -> None:
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code == 201
    await api.post(f"{base}/{D}/dns/publish")
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200
    service.runtime.sandbox.state.inject(Fault("latency", "exchange", count=-1, latency=1.0))
    slow = asyncio.create_task(api.get(f"{base}/{D}/dkim-status"))
    await asyncio.sleep(0.3)
    assert (await api.delete(f"{base}/{D}")).status_code == 204
    answered = await slow
    assert answered.status_code == 404 and answered.json()["detail"]["code"] == "domain_not_found"
    assert D not in await local_view(api, tenant_id)
    assert D not in microsoft_view(service, tenant_id)
    await asyncio.sleep(1.0)  # a reconciler cycle later it is still gone
    assert D not in await local_view(api, tenant_id)


async def test_the_reconciler_never_undoes_an_api_write(service, api, tenant_id):
    """A worker batch holds stale copies while one of its follow-ups waits on a slow
    Set-DkimSigningConfig; meanwhile the API verifies five domains of the same batch. The
    batch's write-back must not turn them back to unverified, nor raise their events twice."""
    base = f"/v1/tenants/{tenant_id}/domains"
    names = [f"d{i}.acme-corp.com" for i in range(5)]
    slow = "slow.acme-corp.com"
    for name in [*names, slow]:
        assert (await api.post(base, json={"domain": name})).status_code == 201
    await api.post(f"{base}/{slow}/dns/publish")
    assert (await api.post(f"{base}/{slow}/verify")).status_code == 200  # its DKIM keys exist now
    service.runtime.sandbox.state.inject(Fault("latency", "exchange", "Set-DkimSigningConfig", count=-1, latency=2.5))
    await api.post(f"{base}/{slow}/dns/publish")  # the CNAMEs: the worker's next batch enables DKIM, slowly
    await asyncio.sleep(1.2)  # that batch (all six domains, due together) is waiting on Exchange now
    for name in names:
        await api.post(f"{base}/{name}/dns/publish")
    verified = await asyncio.gather(*(api.post(f"{base}/{name}/verify") for name in names))
    assert [r.status_code for r in verified] == [200] * 5
    for _ in range(4):  # through the slow batch's write-back and the cycles after it
        await asyncio.sleep(1.0)
        view = await local_view(api, tenant_id)
        assert all(view[name] for name in names), f"a write-back undid a verification: {view}"
    assert not duplicated(await events(api), Counter([*names, slow]))
