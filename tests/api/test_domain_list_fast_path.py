"""The domain list served ahead of FastAPI's routing (`api/fast_reads.py`) answers exactly what
the FastAPI route answers, errors in the same order, and sees every write at once, on SQLite
and PostgreSQL. (A query string sends the request down FastAPI's path: the route's twin.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tenantcore.accounts import service as accounts
from tenantcore.domains.health import StoredHealth
from tenantcore.domains.models import Domain

from ..running import Service

NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def any_db_service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    # Many failed authentications on purpose: not throttled here (tests/api/test_rate_limits.py).
    running = Service(tmp_path / "data", domain_limit=12, database_url=database_url, auth_failure_limit=1000)
    yield running
    running.stop()


async def both(client: httpx.AsyncClient, path: str, **headers: str) -> tuple[httpx.Response, httpx.Response]:
    """The fast path's answer and FastAPI's (the same request with a query string it ignores)."""
    fast = await client.get(path, headers=headers)
    routed = await client.get(path, params={"via": "fastapi"}, headers=headers)
    return fast, routed


async def test_same_answers_as_the_route(any_db_service: Service) -> None:
    service = any_db_service
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        path = f"/v1/tenants/{tenant}/domains"
        empty, routed = await both(api, path)
        assert empty.status_code == 200 and empty.content == routed.content
        assert empty.json() == {"tenant_id": tenant, "domains": [], "count": 0}

        for name in ("b-fast.com", "a-fast.com"):
            assert (await api.post(path, json={"domain": name})).status_code == 201
        checked = datetime(2026, 11, 24, 8, 30, 1, 250000, tzinfo=UTC)
        async with service.database() as session:
            await session.execute(
                update(Domain)
                .where(Domain.name == "a-fast.com")
                .values(
                    last_checked=checked,
                    spf_status="v=spf1 include:spf.protection.outlook.com -all",
                    health=StoredHealth(blocklist_status="listed"),
                    blocklist_status="listed",
                )
            )
        fast, routed = await both(api, path)
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content  # byte for byte
        assert fast.headers["content-type"] == "application/json"
        listing = fast.json()
        assert [d["domain_name"] for d in listing["domains"]] == ["a-fast.com", "b-fast.com"]
        first = listing["domains"][0]
        assert first["last_checked"] == "2026-11-24T08:30:01.250000Z"
        assert first["spf_status"] == "v=spf1 include:spf.protection.outlook.com -all"
        assert first["blocklist_status"] == "listed" and listing["domains"][1]["blocklist_status"] is None
        assert first["is_verified"] is False and isinstance(first["is_default"], bool)

        # A write is seen by the very next read (no cache to go stale).
        assert (await api.delete(f"{path}/b-fast.com")).status_code == 204
        after = (await api.get(path)).json()
        assert [d["domain_name"] for d in after["domains"]] == ["a-fast.com"] and after["count"] == 1


async def test_errors_as_the_route_orders_them(any_db_service: Service) -> None:
    service = any_db_service
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    path = f"/v1/tenants/{tenant}/domains"
    cases = [
        ({}, path, 401, "invalid_auth_header"),
        ({"Authorization": "Basic abc"}, path, 401, "invalid_auth_header"),
        ({"Authorization": "Bearer  x"}, path, 401, "invalid_api_key"),
        ({"Authorization": "Bearer"}, path, 401, "missing_api_key"),
        ({"Authorization": "Bearer tc_test_" + "0" * 48}, path, 401, "invalid_api_key"),
        ({"Authorization": "Bearer not-a-key"}, path, 401, "invalid_api_key"),
        # A bad key is told so before anything about the tenant id.
        ({"Authorization": "Bearer tc_test_" + "0" * 48}, "/v1/tenants/zzz/domains", 401, "invalid_api_key"),
        ({"Authorization": f"Bearer {service.keys['test']}"}, "/v1/tenants/zzz/domains", 400, "invalid_tenant_id"),
        ({"Authorization": f"Bearer {service.keys['test']}"}, f"/v1/tenants/{NIL}/domains", 404, "tenant_not_found"),
        # The live key of the same account does not see test-mode tenants.
        ({"Authorization": f"Bearer {service.keys['live']}"}, path, 404, "tenant_not_found"),
    ]
    async with httpx.AsyncClient(base_url=service.url) as client:
        for headers, url, status, code in cases:
            fast, routed = await both(client, url, **headers)
            assert (fast.status_code, fast.json()["detail"]["code"]) == (status, code), (headers, url)
            assert fast.json() == routed.json() and routed.status_code == status
            assert fast.headers["x-request-id"] and fast.headers["x-content-type-options"] == "nosniff"


async def test_other_accounts_and_rotated_keys_see_nothing(any_db_service: Service) -> None:
    service = any_db_service
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        path = f"/v1/tenants/{tenant}/domains"
        async with service.database() as session:
            _, other_keys = await accounts.create_account(session, service.runtime.secret, "other")
        async with service.client(other_keys["test"]) as other:
            assert (await other.get(path)).json()["detail"]["code"] == "tenant_not_found"
        assert (await api.get(path)).status_code == 200
        rotated = await api.post("/v1/api-key/rotate")
        assert rotated.status_code == 200, rotated.text
        # The old key stops at once, on the very next read.
        stale = await api.get(path)
        assert stale.status_code == 401 and stale.json()["detail"]["code"] == "invalid_api_key"
    async with service.client(rotated.json()["api_key"]) as api:
        assert (await api.get(path)).status_code == 200


async def test_other_methods_and_paths_go_to_fastapi(service: Service, api: httpx.AsyncClient, tenant_id: str) -> None:
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": "x-fast.com"})).status_code == 201
    trailing = await api.get(f"/v1/tenants/{tenant_id}/domains/")
    assert trailing.status_code in (200, 307, 404)  # FastAPI's own answer, whatever it is
    for word in ("connect", "callback"):  # the tenants router's own words are no tenant id
        fast, routed = await both(api, f"/v1/tenants/{word}/domains")
        assert fast.status_code == routed.status_code == 404 and fast.json() == routed.json()
    put = await api.put(f"/v1/tenants/{tenant_id}/domains")
    assert put.status_code == 405 and put.json()["detail"]["code"] == "method_not_allowed"


async def test_postgres_answers_are_never_kept_while_not_listening(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL cache stands on hearing every write: with its listening connection cut,
    a write it never hears of is still seen by the next read, and the listener comes back."""
    import asyncpg

    from tenantcore.domains import listing

    monkeypatch.setattr(listing, "LISTEN_RETRY", 0.2)
    service = Service(tmp_path / "data", domain_limit=12, database_url=postgres_url)
    try:
        async with service.client(service.keys["test"]) as api:
            tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
            path = f"/v1/tenants/{tenant}/domains"
            assert (await api.post(path, json={"domain": "a-listen.com"})).status_code == 201
            assert (await api.get(path)).json()["domains"][0]["spf_status"] == "missing"
            dsn = postgres_url.replace("+asyncpg", "")
            admin = await asyncpg.connect(dsn)
            try:
                cut = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                )
                assert cut == 1
                for spf in ("v=spf1 -all", "v=spf1 ~all"):
                    # Written behind the service's back: no engine event, no notification heard.
                    await admin.execute("UPDATE domains SET spf_status = $1 WHERE name = 'a-listen.com'", spf)
                    assert (await api.get(path)).json()["domains"][0]["spf_status"] == spf
                    await asyncio.sleep(0.3)  # the listener is back after LISTEN_RETRY
                listening = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                )
                assert listening == 1
            finally:
                await admin.close()
    finally:
        service.stop()


def test_only_writes_that_can_change_a_list_drop_kept_answers() -> None:
    """What this process's own commits count (PostgreSQL): the worker's lease claims and the
    rate limiter's buckets leave kept answers standing; anything a list shows does not."""
    from tenantcore.domains.listing import changes_a_list

    assert changes_a_list("UPDATE domains SET spf_status=$1::VARCHAR, version=$2 WHERE domains.id = $3")
    assert changes_a_list('update "domains" set state=? where id=?')
    assert changes_a_list("INSERT INTO domains (id, name) VALUES ($1, $2)")
    assert changes_a_list("DELETE FROM domains WHERE domains.id = $1")
    assert changes_a_list("UPDATE api_keys SET revoked_at=$1 WHERE api_keys.id = $2")
    assert changes_a_list("INSERT INTO tenants (id) VALUES ($1)")
    assert not changes_a_list("UPDATE domains SET lease_owner=$1, lease_until=$2 WHERE domains.state = $3")
    assert not changes_a_list("INSERT INTO rate_limit_buckets (key) VALUES ($1) ON CONFLICT DO UPDATE SET tokens=1")
    assert not changes_a_list("SELECT domains.name FROM domains")
