"""The worker inside `tenantcore serve`, seen from the API: drift raises events, follow-ups
finish onboarding by themselves, failures back off, throttling pauses the worker."""

from __future__ import annotations

import asyncio
import time

import pytest

from tenantcore.emulator import Fault

from ..running import Service

D = "mail.acme-corp.com"


@pytest.fixture
def service(tmp_path):
    running = Service(tmp_path / "data", check_interval=0.3, worker_idle=0.05, followup_backoff=0.5)
    yield running
    running.stop()


async def wait_for_event(api, type_: str, within: float = 15.0, **params) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        page = (await api.get("/v1/events", params={"type": type_, **params})).json()
        if page["events"]:
            return page["events"][0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {type_} event within {within} s")


async def onboard(api, tenant_id: str) -> None:
    """Add D and publish its records as an operator would; the worker does the rest."""
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    base = f"/v1/tenants/{tenant_id}/domains/{D}"
    await api.post(f"{base}/dns/publish")  # the operator publishes; nobody calls verify
    verified = await wait_for_event(api, "domain.verified")
    assert verified["domain_name"] == D and verified["tenant_id"] == tenant_id

    deadline = time.monotonic() + 15
    while "selector1._domainkey" not in str((await api.get(f"{base}/dns")).json()["service_configuration_records"]):
        assert time.monotonic() < deadline, "the worker never created the DKIM keys"
        await asyncio.sleep(0.1)
    await api.post(f"{base}/dns/publish")  # now with the DKIM CNAMEs; nobody calls enable-dkim
    await wait_for_event(api, "domain.dkim_enabled")


async def test_onboarding_finishes_without_verify_or_enable_calls(api, tenant_id):
    await onboard(api, tenant_id)
    base = f"/v1/tenants/{tenant_id}/domains/{D}"
    assert (await api.get(f"{base}/dkim-status")).json()["dkim_status"] == "enabled"
    [listed] = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"]
    assert listed["is_verified"] and listed["dkim_status"] == "healthy"


async def test_drift_in_dns_raises_the_right_events(api, service, tenant_id):
    await onboard(api, tenant_id)
    assert (await api.get(f"/v1/tenants/{tenant_id}/domains/{D}/health")).json()["grade"] == "ok"
    store = service.runtime.sandbox.store
    dmarc = store.values(f"_dmarc.{D}", "TXT")
    store.delete(f"_dmarc.{D}")  # a registrar edit drops the DMARC record

    degraded = await wait_for_event(api, "domain.degraded")
    assert "dmarc_missing" in degraded["data"]["problems"] and degraded["data"]["after"] == "error"
    changed = await wait_for_event(api, "domain.dns_changed")
    assert changed["data"]["observed"]["dmarc"] == []

    # Onboarding itself recovered the domain once (error until its records were published):
    # the recovery asked about here is a new event after the DMARC record is back.
    earlier = {e["id"] for e in (await api.get("/v1/events", params={"type": "domain.recovered"})).json()["events"]}
    store.set(f"_dmarc.{D}", "TXT", dmarc)
    deadline = time.monotonic() + 15
    while not (
        fresh := [
            e
            for e in (await api.get("/v1/events", params={"type": "domain.recovered"})).json()["events"]
            if e["id"] not in earlier
        ]
    ):
        assert time.monotonic() < deadline, "no recovery after the DMARC record came back"
        await asyncio.sleep(0.1)
    assert fresh[0]["data"]["before"] == "error" and fresh[0]["data"]["after"] == "ok"
    assert fresh[0]["message"] == f"{D} is ok now (was error)."


async def test_events_api_filters_pages_and_scopes(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/publish")
    await wait_for_event(api, "domain.verified")
    page = (await api.get("/v1/events", params={"limit": 1, "offset": 0, "tenant_id": tenant_id})).json()
    assert page["count"] == 1 and page["limit"] == 1 and page["offset"] == 0 and page["total"] >= 1
    assert page["filters"] == {"tenant_id": tenant_id, "type": None}
    assert (await api.get("/v1/events", params={"limit": 201})).status_code == 400
    bad = await api.get("/v1/events", params={"type": "domain.exploded"})
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "invalid_event_type"
    other = await service.new_account()
    async with service.client(other["test"]) as theirs:
        assert (await theirs.get("/v1/events")).json()["total"] == 0
    async with service.client(service.keys["live"]) as live:
        assert (await live.get("/v1/events")).json()["total"] == 0


async def test_failed_follow_ups_back_off(api, service, tenant_id):
    state = service.runtime.sandbox.state
    elsewhere = state.create_tenant("Elsewhere")
    taken = state.new_domain(D)
    taken.is_verified = True
    elsewhere.domains[D] = taken  # verified in another tenant: every verify fails
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    state.calls.clear()
    await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/publish")
    failed = await wait_for_event(api, "domain.followup_failed")
    assert failed["data"]["code"] == "domain_in_use" and failed["data"]["retry_at"]
    await asyncio.sleep(2.5)
    attempts = [c for c in state.calls if c.target.endswith("/verify")]
    # Checked every 0.3 s, but retried after 0.5, 1 and 2 s only: not at full rate.
    assert 1 <= len(attempts) <= 3, len(attempts)


async def test_throttling_pauses_the_worker_instead_of_failing(api, service, tenant_id):
    service.runtime.sandbox.state.inject(Fault("throttle", "graph", "/verify", count=-1, retry_after=120))
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/publish")
    worker = service.app.state.worker
    deadline = time.monotonic() + 10
    while worker.paused_until is None:
        assert time.monotonic() < deadline, "the worker never paused"
        await asyncio.sleep(0.1)
    assert (await api.get("/v1/events", params={"type": "domain.followup_failed"})).json()["total"] == 0
