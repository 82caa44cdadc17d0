"""Cursor pagination (`limit`, `starting_after`, `has_more`) on the tenants and events lists:
every item once, in order, whatever the page size."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tenantcore.accounts.models import Account
from tenantcore.events.models import Event

from ..running import Service


async def test_tenants_page_by_cursor(api: httpx.AsyncClient) -> None:
    made = []
    for i in range(5):
        response = await api.post("/v1/tenants", json={"tenant_name": f"T{i}"})
        made.append(response.json()["tenant_id"])
    everything = (await api.get("/v1/tenants")).json()
    assert everything["count"] == 5 and everything["has_more"] is False
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2} | ({"starting_after": cursor} if cursor else {})
        page = (await api.get("/v1/tenants", params=params)).json()
        seen += [t["tenant_id"] for t in page["tenants"]]
        if not page["has_more"]:
            break
        cursor = page["tenants"][-1]["tenant_id"]
    assert seen == [t["tenant_id"] for t in everything["tenants"]] and sorted(seen) == sorted(made)
    bad = await api.get("/v1/tenants", params={"starting_after": "not-a-guid"})
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "invalid_tenant_id"
    unknown = await api.get("/v1/tenants", params={"starting_after": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 400 and unknown.json()["detail"]["code"] == "invalid_cursor"


async def test_events_page_by_cursor(service: Service, api: httpx.AsyncClient) -> None:
    async with service.database() as session:
        account = await session.scalar(select(Account.id))
        session.add_all(
            Event(
                account_id=account,
                mode="test",
                tenant_id="t",
                domain_name=f"d{i}.com",
                type="domain.degraded",
                message=str(i),
                data={},
            )
            for i in range(7)
        )
    ids, cursor = [], None
    while True:
        params = {"limit": 3} | ({"starting_after": cursor} if cursor else {})
        page = (await api.get("/v1/events", params=params)).json()
        ids += [e["id"] for e in page["events"]]
        if not page["has_more"]:
            break
        cursor = page["events"][-1]["id"]
    assert len(ids) == 7 and ids == sorted(ids, reverse=True)
