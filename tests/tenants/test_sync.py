"""Tenant sync against the emulator, without HTTP: what it adopts, drops and leaves alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tenantcore.accounts import service as accounts
from tenantcore.accounts.service import Caller
from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.domains import service as domains
from tenantcore.runtime import Runtime
from tenantcore.tenants import service as tenants
from tenantcore.tenants.schemas import ConnectTenant


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with Runtime.opened(Settings(data_dir=tmp_path / "data", worker=False)) as running:
        yield running


@pytest.fixture
async def caller(runtime: Runtime) -> Caller:
    async with runtime.transaction() as session:
        account, _ = await accounts.create_account(session, runtime.secret, "sync")
    return Caller(account.id, "test", key_id="")


async def names(runtime: Runtime, caller: Caller, tenant_id: str) -> set[str]:
    _, rows = await tenants.with_domains(runtime, caller, tenant_id)
    return {d.name for d in rows}


async def test_sync_adopts_with_records_and_drops_what_microsoft_lost(runtime, caller):
    tenant = await tenants.connect(runtime, caller, ConnectTenant(tenant_name="Acme"))
    graph = runtime.env("test").microsoft.graph
    await graph.create_domain(tenant.tenant_id, "elsewhere.acme-corp.com")  # added in the admin center
    await domains.add(runtime, caller, tenant.tenant_id, "gone.acme-corp.com")
    await graph.delete_domain(tenant.tenant_id, "gone.acme-corp.com")  # removed there too

    result = await tenants.sync(runtime, caller, tenant.tenant_id)
    assert (result.added, result.removed) == (["elsewhere.acme-corp.com"], ["gone.acme-corp.com"])
    assert await names(runtime, caller, tenant.tenant_id) == {"elsewhere.acme-corp.com"}
    _, adopted = await domains.load(runtime, caller, tenant.tenant_id, "elsewhere.acme-corp.com")
    assert adopted.records_read_at is not None and adopted.verification_records  # records read too


async def test_sync_keeps_a_domain_added_after_microsofts_list_was_read(runtime, caller):
    tenant = await tenants.connect(runtime, caller, ConnectTenant(tenant_name="Race"))
    listed_at = now()
    before = await runtime.env("test").microsoft.graph.list_domains(tenant.tenant_id)
    await domains.add(runtime, caller, tenant.tenant_id, "late.acme-corp.com")  # lands after the list
    result = await tenants.sync(runtime, caller, tenant.tenant_id, listed=before, listed_at=listed_at)
    assert result.removed == []
    assert await names(runtime, caller, tenant.tenant_id) == {"late.acme-corp.com"}
