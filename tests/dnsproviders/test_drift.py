"""Drift: a record changed at the provider after TenantCore applied it is an event; with
auto-repair on, the reconciler applies the plan again. Through the sandbox provider, with
the reconciler running as it does in `tenantcore serve`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..running import Service


async def eventually(probe: Callable[[], Awaitable[object]], what: str, within: float = 60.0) -> object:
    started = time.monotonic()
    while time.monotonic() - started < within:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"not within {within:.0f} s: {what}")


async def test_drift_is_reported_and_repaired_only_with_auto_repair(tmp_path: Path) -> None:
    service = Service(tmp_path / "data", check_interval=1.0, onboarding_poll=0.5, worker_idle=0.2)
    store = service.runtime.sandbox.store  # type: ignore[union-attr]
    name = "drifting.com"
    try:
        async with service.client(service.keys["test"]) as api:
            tenant = (await api.post("/v1/tenants", json={"tenant_name": "Drift"})).json()["tenant_id"]
            linked = await api.post("/v1/dns-providers", json={"name": "sandbox", "kind": "sandbox"})
            assert linked.status_code == 201, linked.text
            assert (await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": name})).status_code == 201
            base = f"/v1/tenants/{tenant}/domains/{name}"

            async def dkim_enabled() -> bool:
                return (await api.get(f"{base}/dkim-status")).json()["dkim_status"] == "enabled"

            await eventually(dkim_enabled, "onboarded by the reconciler alone")
            spf = next(v for v in store.values(name, "TXT") if v.startswith("v=spf1"))
            store.delete(name, "TXT")  # someone wipes the apex TXT records at the provider

            async def drift(repaired: bool) -> list[dict]:  # type: ignore[type-arg]
                page = (await api.get("/v1/events", params={"type": "domain.dns_drift"})).json()
                return [e for e in page["events"] if e["data"]["repaired"] is repaired]

            [seen] = await eventually(lambda: drift(False), "a drift event")  # type: ignore[misc]
            assert f"{name} TXT" in {c["record"] for c in seen["data"]["changes"]}
            await asyncio.sleep(2.5)  # checks go on; without auto-repair nothing is written
            assert store.values(name, "TXT") == []

            turned_on = await api.put(f"{base}/dns/provider", json={"auto_repair": True})
            assert turned_on.status_code == 200 and turned_on.json()["auto_repair"] is True
            await eventually(lambda: drift(True), "a repair")
            assert spf in store.values(name, "TXT")
    finally:
        service.stop()
