"""Domains left half-way by a failure have a way forward without a human: a domain whose
record read failed after Microsoft created it, and reservations whose add died (Microsoft has
the domain, or never created it), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tenantcore.db import now
from tenantcore.domains.models import Domain
from tenantcore.emulator import Fault
from tenantcore.tenants.models import Tenant

from ..running import Service
from .helpers import eventually, local_view

D = "mail.acme-corp.com"


async def records_of(api, tenant_id: str, name: str) -> list:
    return (await api.get(f"/v1/tenants/{tenant_id}/domains/{name}/dns")).json()["verification_dns_records"]


async def test_a_failed_record_read_after_the_create_is_finished_by_the_reconciler(service, api, tenant_id):
    state = service.runtime.sandbox.state
    # Microsoft creates the domain, then fails the record read (more than the client retries).
    state.inject(Fault("unavailable", "graph", "verificationDnsRecords", count=20))
    base = f"/v1/tenants/{tenant_id}/domains"
    failed = await api.post(base, json={"domain": D})
    assert failed.status_code == 503 and failed.json()["detail"]["code"] == "microsoft_unavailable"
    assert D in state.tenants[tenant_id].domains  # Microsoft kept it ...
    assert D in await local_view(api, tenant_id)  # ... and so did TenantCore, with no records yet
    state.faults.clear()

    async def has_records() -> bool:
        return bool(await records_of(api, tenant_id, D))

    await eventually(has_records, within=5, what="the reconciler reads the records")
    [txt] = await records_of(api, tenant_id, D)
    assert txt["text"].startswith("MS=ms")
    await api.post(f"{base}/{D}/dns/publish")
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200


async def test_adding_again_finishes_an_add_whose_record_read_failed(tmp_path, database_url):
    # No reconciler here: the operator's retry alone must finish the add.
    alone = Service(tmp_path / "alone", database_url=database_url, worker=False)
    try:
        async with alone.client(alone.keys["test"]) as api:
            tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Alone"})).json()["tenant_id"]
            alone.runtime.sandbox.state.inject(Fault("unavailable", "graph", "verificationDnsRecords", count=20))
            base = f"/v1/tenants/{tenant_id}/domains"
            assert (await api.post(base, json={"domain": D})).status_code == 503
            alone.runtime.sandbox.state.faults.clear()
            again = await api.post(base, json={"domain": D})
            assert again.status_code == 201, again.text
            assert again.json()["verification_dns_records"][0]["text"].startswith("MS=ms")
            assert (await api.get(f"/v1/tenants/{tenant_id}")).json()["domain_count"] == 1
            assert (await api.post(base, json={"domain": D})).status_code == 409  # now it is complete
    finally:
        alone.stop()


async def stale_reservation(service: Service, tenant_id: str, name: str) -> None:
    """The row an add leaves when its process dies before Microsoft was reached."""
    async with service.database() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.ms_tenant_id == tenant_id))
        assert tenant is not None
        old = now() - timedelta(seconds=5)
        session.add(
            Domain(
                tenant_id=tenant.id,
                account_id=tenant.account_id,
                mode="test",
                name=name,
                created_at=old,
                updated_at=old,
            )
        )


@pytest.mark.parametrize("settled_by", ["reconciler", "sync"])
async def test_dead_reservations_are_adopted_or_released(tmp_path, database_url, settled_by):
    # Settled by the reconciler alone, or by a sync with no reconciler running.
    service = Service(
        tmp_path / "data",
        database_url=database_url,
        worker=settled_by == "reconciler",
        worker_idle=0.05,
        reservation_timeout=1,
    )
    try:
        async with service.client(service.keys["test"]) as api:
            tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Dead"})).json()["tenant_id"]
            await _dead_reservations(service, api, tenant_id, settled_by)
    finally:
        service.stop()


async def _dead_reservations(service: Service, api, tenant_id: str, settled_by: str) -> None:
    state = service.runtime.sandbox.state
    # One add died after Microsoft created the domain, one before it reached Microsoft.
    created = "created.acme-corp.com"
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": created})).status_code == 201
    assert created in state.tenants[tenant_id].domains
    async with service.database() as session:  # back to the reservation the crash left
        await session.execute(
            update(Domain)
            .where(Domain.name == created)
            .values(
                state="pending",
                created_at=now() - timedelta(seconds=5),
                updated_at=now() - timedelta(seconds=5),
                verification_records=[],
                service_records=[],
                records_read_at=None,
            )
        )
    await stale_reservation(service, tenant_id, "never.acme-corp.com")
    if settled_by == "sync":
        result = (await api.post(f"/v1/tenants/{tenant_id}/sync")).json()
        assert result["added"] == [created]

    async def settled() -> bool:
        return await local_view(api, tenant_id) == {created: False} and bool(await records_of(api, tenant_id, created))

    await eventually(settled, within=5, what="the dead adds are settled against Microsoft")
    assert (await api.get(f"/v1/tenants/{tenant_id}")).json()["domain_count"] == 1
    assert (
        await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": "never.acme-corp.com"})
    ).status_code == 201


async def test_a_delete_that_died_is_finished_and_never_adopted_back(service, api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code == 201
    async with service.database() as session:  # the process died after marking, before Microsoft
        old = now() - timedelta(seconds=5)
        await session.execute(update(Domain).where(Domain.name == D).values(state="removing", updated_at=old))
    assert D not in await local_view(api, tenant_id)
    assert D not in (await api.post(f"/v1/tenants/{tenant_id}/sync")).json()["added"]  # name still taken
    emulated = service.runtime.sandbox.state.tenants[tenant_id].domains

    async def finished() -> bool:
        async with service.database() as session:
            row = await session.scalar(select(Domain.id).where(Domain.name == D))
        return D not in emulated and row is None

    await eventually(finished, within=5, what="the reconciler finishes the delete in Microsoft and here")
    assert (await api.post(base, json={"domain": D})).status_code == 201  # the name is free again
