"""A database that takes no more connections is the server's trouble, not the caller's: a 503
`database_unavailable` with Retry-After, never a 500, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tenantcore.errors import database_unavailable

from ..running import Service


@pytest.fixture
async def limited_postgres() -> AsyncIterator[tuple[str, str]]:
    """A fresh database owned by a role of its own (PostgreSQL does not hold superusers to a
    connection limit): (URL, role). Dropped afterwards, database first."""
    suffix = uuid.uuid4().hex[:10]
    database, role = f"tc_test_{suffix}", f"tc_role_{suffix}"
    try:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    except OSError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc}); CI machines have one")
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        await admin.execute(f"CREATE DATABASE {database} OWNER {role}")
        yield f"postgresql+asyncpg://{role}@127.0.0.1:5432/{database}", role
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_postgres_refusing_connections_is_a_503(tmp_path: Path, limited_postgres: tuple[str, str]) -> None:
    url, role = limited_postgres
    service = Service(tmp_path / "data", domain_limit=12, database_url=url, rate_limit=0)
    try:
        async with service.client(service.keys["test"]) as api:
            tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            try:
                # The connections the service holds stay; no new one is let in.
                await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT 1")
                paths = [f"/v1/tenants/{tenant}", f"/v1/tenants/{tenant}/domains", "/v1/events"]
                answers = await asyncio.gather(*(api.get(paths[i % 3]) for i in range(45)))
                statuses = {r.status_code for r in answers}
                assert statuses <= {200, 503}, statuses
                refused = [r for r in answers if r.status_code == 503]
                assert refused, "the limit never bit: the test proves nothing"
                for r in refused:
                    assert r.json()["detail"]["code"] == "database_unavailable"
                    assert r.headers["retry-after"] == "1" and r.headers["x-request-id"]
                await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
            finally:
                await admin.close()
            again = await asyncio.gather(*(api.get(f"/v1/tenants/{tenant}") for _ in range(20)))
            assert {r.status_code for r in again} == {200}
    finally:
        service.stop()


@pytest.mark.parametrize(
    "error",
    [
        PoolTimeout("QueuePool limit reached"),
        OperationalError("SELECT 1", {}, ConnectionRefusedError()),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    ],
)
def test_what_counts_as_the_database_unavailable(error: Exception) -> None:
    found = database_unavailable(error)
    assert found is not None and (found.status, found.code) == (503, "database_unavailable")


@pytest.mark.parametrize(
    "error", [ValueError("bug"), OperationalError("SELECT x", {}, Exception("no such column: x")), KeyError("k")]
)
def test_a_bug_stays_a_500(error: Exception) -> None:
    assert database_unavailable(error) is None


async def test_the_document_says_so(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        spec = (await client.get("/openapi.json")).json()
    answers = spec["paths"]["/v1/tenants/{tenant_id}/domains"]["get"]["responses"]
    assert "503" in answers and "database_unavailable" in answers["503"]["description"]
