"""GET /metrics scraped from the running service after real requests, parsed as Prometheus
parses it. Counters live in the process's registry, shared by every app a test process
builds, so each test compares a scrape after its requests with one before."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tenantcore.db import now
from tenantcore.domains.models import Domain

from ..running import Service
from ..webhooks.receiver import receiving, until
from ..webhooks.test_webhooks import emit

LIST_ROUTE = "/v1/tenants/{tenant_id}/domains"
D = "mail.acme-corp.com"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` carrying at least `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def routes(samples: Samples) -> set[str]:
    return {dict(ls)["route"] for n, ls in samples if n == "tenantcore_http_requests_total"}


async def test_requests_by_route_template_and_status(api, tenant_id):
    before = await scrape(api)
    for _ in range(3):
        assert (await api.get(f"/v1/tenants/{tenant_id}/domains")).status_code == 200
    unknown = (await api.get(f"/v1/tenants/{uuid.uuid4()}/domains")).status_code
    for _ in range(5):  # random paths: one label value for all of them
        assert (await api.get(f"/no-such-page-{uuid.uuid4().hex}")).status_code == 404
    assert (await api.get("/openapi.json")).status_code == 200  # a plain Starlette route, no template
    assert (await api.get("/app/static/no-such-file.css")).status_code == 404  # a mount: its prefix
    after = await scrape(api)

    counted = {"method": "GET", "route": LIST_ROUTE}
    name = "tenantcore_http_requests_total"
    assert value(after, name, **counted, status="200") - value(before, name, **counted, status="200") == 3
    assert value(after, name, **counted, status=str(unknown)) - value(before, name, **counted, status=str(unknown)) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 5
    # No raw path ever becomes a label: only route templates and "unmatched".
    assert not any("no-such-page" in route or tenant_id in route for route in routes(after))
    assert routes(after) - routes(before) <= {LIST_ROUTE, "unmatched", "/metrics", "/openapi.json", "/app/static"}
    for route, status in (("/openapi.json", "200"), ("/app/static", "404")):
        labels = {"method": "GET", "route": route, "status": status}
        assert value(after, name, **labels) - value(before, name, **labels) == 1

    duration = "tenantcore_http_request_duration_seconds"
    count = value(after, f"{duration}_count", **counted) - value(before, f"{duration}_count", **counted)
    assert count == 4  # the 200s and the unknown tenant's answer
    within_10s = value(after, f"{duration}_bucket", **counted, le="10.0") - value(
        before, f"{duration}_bucket", **counted, le="10.0"
    )
    assert within_10s == 4
    assert value(after, f"{duration}_sum", **counted) > value(before, f"{duration}_sum", **counted)


async def test_microsoft_calls_and_dns_checks_after_a_sandbox_add(api, tenant_id):
    before = await scrape(api)
    added = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert added.status_code == 201, added.text
    checked = await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns-check")
    assert checked.status_code == 200, checked.text
    after = await scrape(api)

    calls = "tenantcore_microsoft_requests_total"
    assert value(after, calls, api="graph", outcome="ok") > value(before, calls, api="graph", outcome="ok")
    assert total(after, calls, api="token") >= 1  # the tenant's tokens were fetched over HTTP
    seconds = "tenantcore_microsoft_request_duration_seconds_count"
    assert value(after, seconds, api="graph") > value(before, seconds, api="graph")
    # Nothing published yet: the add's check and the explicit one both grade the domain error.
    checks = "tenantcore_dns_checks_total"
    assert value(after, checks, grade="error") - value(before, checks, grade="error") >= 2
    assert {dict(ls)["grade"] for n, ls in after if n == checks} <= {"ok", "info", "warning", "error", "unknown"}
    # The queue gauges come from this service's database.
    assert value(after, "tenantcore_metrics_database_up") == 1
    assert value(after, "tenantcore_domains", state="added") == 1
    assert value(after, "tenantcore_webhook_outbox_pending") == 0


@pytest.fixture
def idle_service(tmp_path: Path) -> Iterator[Service]:
    """No embedded worker: a due domain stays due, so the lag can be read."""
    running = Service(tmp_path / "data", worker=False)
    yield running
    running.stop()


async def test_reconciler_lag_is_the_age_of_the_oldest_due_check(idle_service):
    async with idle_service.client(idle_service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        for name in (D, "news.acme-corp.com"):
            assert (await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": name})).status_code == 201
        async with idle_service.database() as session:
            await session.execute(update(Domain).values(next_check_at=now() + timedelta(hours=1)))
            await session.execute(
                update(Domain).where(Domain.name == D).values(next_check_at=now() - timedelta(seconds=300))
            )
        samples = await scrape(api)
    assert 300 <= value(samples, "tenantcore_reconciler_lag_seconds", mode="test") < 360
    assert value(samples, "tenantcore_domains_due", mode="test") == 1
    assert value(samples, "tenantcore_reconciler_lag_seconds", mode="live") == 0
    assert value(samples, "tenantcore_domains_due", mode="live") == 0
    assert value(samples, "tenantcore_domains", state="added") == 2


@pytest.fixture
def quick_service(tmp_path: Path) -> Iterator[Service]:
    """The embedded worker and the outbox, retrying fast."""
    running = Service(tmp_path / "data", webhook_backoff=0.2, webhook_poll=0.1, worker_idle=0.2)
    yield running
    running.stop()


async def test_reconciler_and_webhook_deliveries_are_counted(quick_service):
    async with quick_service.client(quick_service.keys["test"]) as api:
        before = await scrape(api)
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        assert (await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": D})).status_code == 201
        async with quick_service.database() as session:  # due now: the embedded worker checks it
            await session.execute(update(Domain).values(next_check_at=now() - timedelta(seconds=1)))
        checked = "tenantcore_reconciler_checked_domains_total"
        for _ in range(100):  # up to 20 s
            latest = await scrape(api)
            if value(latest, checked) > value(before, checked):
                break
            await asyncio.sleep(0.2)
        assert value(latest, checked) > value(before, checked)
        batches = "tenantcore_reconciler_batches_total"
        assert value(latest, batches) > value(before, batches)

        with receiving(fail_first=2) as receiver:
            hook = await api.post("/v1/webhooks", json={"url": receiver.url})
            assert hook.status_code == 201, hook.text
            receiver.secrets.append(hook.json()["secret"])
            await emit(quick_service, [("domain.verified", D)])
            await until(lambda: len(receiver.ids()) == 1, "the delivery")
        after = await scrape(api)
    attempts = "tenantcore_webhook_delivery_attempts_total"
    assert value(after, attempts, outcome="retry") - value(before, attempts, outcome="retry") >= 2
    assert value(after, attempts, outcome="delivered") - value(before, attempts, outcome="delivered") >= 1
    assert value(after, "tenantcore_webhook_outbox_pending") == 0


async def test_metrics_token_is_required_when_set(tmp_path):
    service = Service(tmp_path / "data", metrics_token="scrape-secret-1")
    try:
        async with service.client(None) as anonymous:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret-1"}):
                refused = await anonymous.get("/metrics", headers=headers)
                assert refused.status_code == 401
                assert refused.json()["detail"]["code"] == "invalid_metrics_token"
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "scrape-secret-1" not in refused.text
            samples = await scrape(anonymous, Authorization="Bearer scrape-secret-1")
            assert value(samples, "tenantcore_metrics_database_up") == 1
            # An operator's endpoint, not part of the API's contract.
            schema = (await anonymous.get("/openapi.json")).json()
            assert "/metrics" not in schema["paths"]
    finally:
        service.stop()


async def test_metrics_are_open_without_a_token(service):
    async with service.client(None) as anonymous:
        samples = await scrape(anonymous)
    assert value(samples, "tenantcore_metrics_database_up") == 1


async def test_an_open_metrics_endpoint_beyond_loopback_is_warned_about(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tenantcore.metrics")
    exposed = Service(tmp_path / "exposed", host="0.0.0.0")  # the setting only: the test server binds loopback
    exposed.stop()
    guarded = Service(tmp_path / "guarded", host="0.0.0.0", metrics_token="t0ken")
    guarded.stop()
    local = Service(tmp_path / "local")
    local.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "tenantcore.metrics"]
    assert len(warnings) == 1 and "GET /metrics is open to anyone who reaches 0.0.0.0:8000" in warnings[0]
    assert "t0ken" not in caplog.text
