"""Retries, Retry-After, bounds, concurrency and request ids, against injected faults."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tenantcore.emulator import Consent, Fault
from tenantcore.microsoft.errors import ExchangeAccessDenied, MicrosoftUnavailable, Throttled

from .conftest import CLIENT_ID, make_clients


async def test_429_is_retried_honouring_retry_after(ms, state, tenant):
    state.inject(Fault("throttle", "graph", "/domains", count=2, retry_after=3))
    assert await ms.graph.list_domains(tenant.id)
    assert ms.waits == [3.0, 3.0]
    assert ms.http.stats.retries == 2
    assert [c.status for c in state.calls if c.service == "graph"] == [429, 429, 200]


async def test_without_retry_after_backoff_is_exponential_and_jittered(ms, state, tenant):
    state.inject(Fault("unavailable", "exchange", "Get-AcceptedDomain", count=4, retry_after=None))
    assert await ms.exchange.accepted_domains(tenant.id)
    base = ms.http.config.backoff_base
    assert len(ms.waits) == 4
    assert all(0 <= wait <= base * 2**i for i, wait in enumerate(ms.waits))


async def test_retries_are_bounded_in_attempts(ms, state, tenant):
    state.inject(Fault("throttle", "graph", count=-1, retry_after=1))
    with pytest.raises(Throttled) as raised:
        await ms.graph.list_domains(tenant.id)
    assert raised.value.retry_after == 1.0
    assert len([c for c in state.calls if c.service == "graph"]) == ms.http.config.max_attempts


async def test_retries_are_bounded_in_total_time(emulator, state, tenant):
    """A Retry-After beyond the time budget fails at once (the worker will come back later)."""
    clients = make_clients(emulator, max_retry_seconds=10)
    state.inject(Fault("throttle", "graph", count=-1, retry_after=120))
    try:
        with pytest.raises(Throttled) as raised:
            await clients.graph.list_domains(tenant.id)
    finally:
        await clients.aclose()
    assert raised.value.retry_after == 120
    assert len([c for c in state.calls if c.service == "graph"]) == 1


async def test_503_that_persists_is_microsoft_unavailable(ms, state, tenant):
    state.inject(Fault("unavailable", "graph", count=-1, retry_after=0))
    with pytest.raises(MicrosoftUnavailable):
        await ms.graph.get_domain(tenant.id, tenant.initial_domain)


async def test_connection_refused_is_retried_then_unavailable(ms):
    from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig

    clients = MicrosoftClients.create(
        MicrosoftConfig(CLIENT_ID, client_secret="x", max_attempts=2), emulator="http://127.0.0.1:9"
    )
    try:
        with pytest.raises(MicrosoftUnavailable):
            await clients.graph.list_domains("contoso.onmicrosoft.com")
    finally:
        await clients.aclose()


async def test_calls_for_one_tenant_run_concurrently_within_the_bound(emulator, state, tenant):
    clients = make_clients(emulator, per_tenant_concurrency=3)
    state.inject(Fault("latency", "graph", count=-1, latency=0.1))
    try:
        await asyncio.gather(*(clients.graph.get_domain(tenant.id, tenant.initial_domain) for _ in range(9)))
    finally:
        await clients.aclose()
    assert state.peak_in_flight[tenant.id] == 3


async def test_every_request_sends_a_client_request_id_that_is_logged(ms, state, tenant, caplog):
    caplog.set_level(logging.INFO, logger="tenantcore.microsoft")
    state.inject(Fault("throttle", "graph", count=1, retry_after=0))
    await ms.graph.list_domains(tenant.id)
    ids = [c.client_request_id for c in state.calls if c.service == "graph"]
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0]  # the same id across the retry
    logged = [r.getMessage() for r in caplog.records if ids[0] in r.getMessage()]
    assert any("-> 429" in m for m in logged) and any("-> 200" in m for m in logged)
    assert not any("Bearer" in r.getMessage() or "eyJ" in r.getMessage() for r in caplog.records)


async def test_exchange_without_its_role_gets_the_non_json_403(ms, state, tenant):
    state.consent(tenant.id, CLIENT_ID, Consent(exchange_admin_role=False))
    with pytest.raises(ExchangeAccessDenied) as raised:
        await ms.exchange.accepted_domains(tenant.id)
    assert "Exchange Administrator" in raised.value.message


async def test_a_read_timeout_is_retried_for_reads_but_not_for_creates(emulator, state, tenant):
    clients = make_clients(emulator, timeout=0.3, backoff_base=0.01)
    try:
        await clients.graph.list_domains(tenant.id)  # token fetched before the slow calls
        state.inject(Fault("latency", "graph", "/domains", count=1, latency=0.6))
        assert await clients.graph.list_domains(tenant.id)  # first attempt times out, retry succeeds
        assert clients.http.stats.retries == 1

        state.inject(Fault("latency", "graph", "/domains", count=1, latency=0.6))
        with pytest.raises(MicrosoftUnavailable) as raised:
            await clients.graph.create_domain(tenant.id, "slow.acmecorp.com")
        assert "did not answer POST" in raised.value.message
        assert clients.http.stats.retries == 1  # not retried: Microsoft may have created it
    finally:
        await clients.aclose()
