"""Workers against SQLite and a real PostgreSQL, DNS from the sandbox DNS server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from tenantcore.accounts.models import Account
from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.dnshealth.records import build_expected_records
from tenantcore.domains.models import Domain
from tenantcore.runtime import Runtime
from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore
from tenantcore.tenants.models import Tenant

from ..dnshealth.m365 import dkim_config, service_records, verification_records


@pytest.fixture
def settings(database_url: str, dns_server: SandboxDnsServer, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        sandbox=False,
        dns_nameservers=[dns_server.address],
        blocklists=[],  # live mode against the sandbox DNS, which serves no blocklist zone
        dns_concurrency=100,
        worker_batch=150,
        check_interval=900,
    )


class Fleet:
    """Runtimes sharing one database, one per worker, as separate processes would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtimes: list[Runtime] = []

    async def runtime(self, **overrides: object) -> Runtime:
        runtime = Runtime(self.settings.model_copy(update=overrides))
        await runtime.start(bootstrap=False)
        self.runtimes.append(runtime)
        return runtime

    async def close(self) -> None:
        for runtime in self.runtimes:
            await runtime.close()


@pytest.fixture
async def fleet(settings: Settings) -> AsyncIterator[Fleet]:
    fleet = Fleet(settings)
    yield fleet
    await fleet.close()


async def seed(runtime: Runtime, store: ZoneStore, count: int) -> list[str]:
    """`count` live domains, verified with DKIM on (so no follow-ups), due now, records published."""
    account_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    rows = []
    for i in range(count):
        name = f"w{i:05d}-example.com"
        verification, service, dkim = verification_records(name), service_records(name), dkim_config(name)
        store.publish(
            build_expected_records(name, verification=verification, service=service, dkim_config=dkim).records
        )
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "tenant_id": tenant_id,
                "account_id": account_id,
                "mode": "live",
                "name": name,
                "state": "dkim_enabled",
                "is_verified": True,
                "dkim_enabled": True,
                "verification_records": verification,
                "service_records": service,
                "dkim_config": dkim,
                "records_read_at": now(),
                "next_check_at": now() - timedelta(seconds=1),
            }
        )
    async with runtime.sessions() as session:
        await session.execute(insert(Account).values(id=account_id, name="fleet"))
        await session.execute(
            insert(Tenant).values(
                id=tenant_id,
                account_id=account_id,
                mode="live",
                ms_tenant_id=str(uuid.uuid4()),
                tenant_name="Fleet",
                tenant_domain="fleet.onmicrosoft.com",
            )
        )
        await session.execute(insert(Domain), rows)
        await session.commit()
    return [row["id"] for row in rows]
