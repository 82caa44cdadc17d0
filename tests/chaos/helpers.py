"""What every chaos test asserts afterwards, and the waiting it takes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Seconds until `check` holds; fails the test saying `what` if it never does."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def local_view(api: httpx.AsyncClient, tenant_id: str) -> dict[str, bool]:
    """The tenant's domains as TenantCore lists them: name → verified."""
    listed = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"]
    return {d["domain_name"]: d["is_verified"] for d in listed}


async def events(api: httpx.AsyncClient) -> list[dict]:
    page = (await api.get("/v1/events", params={"limit": 200})).json()
    assert page["total"] <= 200, "more events than one page: raise the limit"
    return page["events"]


def duplicated(events: list[dict], lives: Counter[str]) -> list[str]:
    """Domains that were verified or had DKIM enabled more often than they were added."""
    counts = Counter(
        (e["domain_name"], e["type"]) for e in events if e["type"] in ("domain.verified", "domain.dkim_enabled")
    )
    return [f"{name} {type_} x{n}" for (name, type_), n in counts.items() if n > lives[name]]


def server_errors(responses: list[httpx.Response]) -> list[str]:
    return [
        f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}"
        for r in responses
        if r.status_code >= 500
    ]
