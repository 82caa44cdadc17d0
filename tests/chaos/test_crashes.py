"""Crashes: `tenantcore serve` killed with SIGKILL in the middle of adds while Microsoft is slow,
and a reconciler worker killed in the middle of a batch. After each, on SQLite and PostgreSQL:
no 5xx, TenantCore's domains equal Microsoft's within one reconciler cycle, no tenant blocked,
no event twice. The figures these tests print are the convergence times in bench/README.md."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tenantcore.config import Settings
from tenantcore.domains.models import Domain
from tenantcore.runtime import Runtime

from ..worker.conftest import seed
from .helpers import duplicated, events, eventually, local_view, server_errors
from .processes import Process, Serve

ADDS = 10
SETTINGS = {
    "reservation_timeout": 2,  # an add dies here well within this; Microsoft calls are faster
    "worker_idle": 0.1,
    "worker_lease": 2,
    "check_interval": 5,
    "followup_backoff": 0.5,
}


async def microsoft(serve: Serve, tenant_id: str) -> dict[str, bool]:
    async with httpx.AsyncClient(headers=serve.control) as control:
        stats = (await control.get(f"{serve.emulator}/_emulator/stats")).json()[tenant_id]
    return {name: name in stats["verified"] for name in stats["domains"] if not name.endswith(".onmicrosoft.com")}


async def adds_killed_midway(serve: Serve, key: str, tenant_id: str, names: list[str], fault: dict) -> None:
    """Start adds with Microsoft slowed by `fault`, and kill the server while they wait on it."""
    async with httpx.AsyncClient(base_url=serve.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        async with httpx.AsyncClient(headers=serve.control) as control:
            assert (await control.post(f"{serve.emulator}/_emulator/faults", json=fault)).status_code == 201
        pending = [
            asyncio.create_task(api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": name})) for name in names
        ]
        await asyncio.sleep(1.0)
        serve.kill()
        for task in pending:
            with pytest.raises(httpx.TransportError):
                await task


@pytest.mark.parametrize(
    "phase, fault",
    [
        # Killed while Microsoft is creating the domains: none is created, every slot comes back.
        ("create", {"kind": "latency", "service": "graph", "match": "/domains", "count": ADDS, "latency": 3}),
        # Killed while reading the records of domains Microsoft has: they are finished later.
        ("records", {"kind": "latency", "service": "graph", "match": "DnsRecords", "count": -1, "latency": 3}),
    ],
)
async def test_serve_killed_during_adds(tmp_path: Path, database_url: str, phase: str, fault: dict) -> None:
    serve = Serve(tmp_path / "data", database_url, **SETTINGS).start()
    try:
        serve.wait_ready()
        key = serve.find(r"test: (tc_test_[0-9a-f]{48})")
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=serve.url, headers=headers, timeout=30) as api:
            tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Crash"})).json()["tenant_id"]
        names = [f"c{i:02d}.acme-corp.com" for i in range(ADDS)]
        await adds_killed_midway(serve, key, tenant_id, names, fault)

        killed_at = time.monotonic()
        serve.start()  # same data dir, same ports: the restart an operator or systemd does
        serve.wait_ready()
        responses: list[httpx.Response] = []
        async with httpx.AsyncClient(base_url=serve.url, headers=headers, timeout=30) as api:

            async def converged() -> bool:
                responses.append(await api.get(f"/v1/tenants/{tenant_id}/domains"))
                if await local_view(api, tenant_id) != await microsoft(serve, tenant_id):
                    return False
                dns = [
                    await api.get(f"/v1/tenants/{tenant_id}/domains/{n}/dns") for n in await local_view(api, tenant_id)
                ]
                responses.extend(dns)
                return all(r.json()["verification_dns_records"] for r in dns)  # records read, too

            took = await eventually(converged, within=30, what="local domains equal Microsoft's, with records")
            # Microsoft created none while its creates were slow, some (4 calls in flight per
            # tenant) while the record reads were: TenantCore has exactly those.
            expected = set(await microsoft(serve, tenant_id))
            assert (expected == set()) if phase == "create" else (set() < expected <= set(names))
            assert set(await local_view(api, tenant_id)) == expected
            # Not blocked: the tenant takes adds up to its limit again.
            more = [f"n{i:02d}.acme-corp.com" for i in range(12 - len(expected))]
            added = [await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": n}) for n in more]
            responses.extend(added)
            assert [r.status_code for r in added] == [201] * len(more), [r.text for r in added]
            assert not server_errors(responses)
            assert not duplicated(await events(api), Counter(names + more))
        print(
            f"\nserve killed during {phase} ({database_url.split(':')[0]}): converged {time.monotonic() - killed_at:.1f} s after the kill ({took:.1f} s after the restart)"
        )
    finally:
        serve.stop()


async def test_a_worker_killed_mid_batch_gives_its_domains_back_within_a_lease(
    tmp_path, database_url, store, dns_server, blackhole
):
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", sandbox=False)
    async with Runtime.opened(settings) as runtime:
        ids = await seed(runtime, store, 300)
        lease = 2.0
        env = {
            "TENANTCORE_DATABASE_URL": database_url,
            "TENANTCORE_DATA_DIR": str(tmp_path / "data"),
            "TENANTCORE_WORKER_LEASE": str(lease),
            "TENANTCORE_WORKER_BATCH": "300",
            "TENANTCORE_WORKER_PIPELINES": "1",
        }
        # The first worker asks a nameserver that never answers: its batch hangs on DNS, as a
        # worker stuck on a slow network would, renewing its leases, until it is killed.
        stuck = Process(
            ["worker"],
            env
            | {
                "TENANTCORE_DNS_NAMESERVERS": f'["{blackhole}"]',
                "TENANTCORE_DNS_TIMEOUT": "30",
                "TENANTCORE_DNS_TRIES": "1",
            },
        ).start()

        async def leased() -> bool:
            async with runtime.sessions() as session:
                return await session.scalar(select(func.count()).where(Domain.lease_owner.is_not(None))) == len(ids)

        try:
            await eventually(leased, within=20, what="the first worker claims the batch")
            await asyncio.sleep(lease)  # past one lease: only the heartbeat keeps it
            assert await leased(), "the running batch lost its leases: the heartbeat did not renew them"
            stuck.kill()
        finally:
            stuck.stop()
        healthy = Process(["worker"], env | {"TENANTCORE_DNS_NAMESERVERS": f'["{dns_server.address}"]'}).start()
        try:

            async def all_checked() -> bool:
                async with runtime.sessions() as session:
                    unchecked = await session.scalar(select(func.count()).where(Domain.check_count == 0))
                return unchecked == 0

            took = await eventually(all_checked, within=lease + 10, what="the batch is taken over and checked")
        finally:
            healthy.stop()
        print(
            f"\nworker killed mid-batch ({database_url.split(':')[0]}): every domain checked {took:.1f} s after the kill (lease {lease:.0f} s)"
        )
