"""Rate limits as a client meets them: the headers on every API response, 429 `rate_limited`
once a key's bucket is empty, and failed authentication throttled per client address (the API
and the app's sign-in form), over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets

import httpx
import pytest

from tests.running import Service

WRONG = "tc_live_" + "0" * 48


def limits(response: httpx.Response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["RateLimit-Limit"]), int(h["RateLimit-Remaining"]), int(h["RateLimit-Reset"])


@pytest.fixture
def limited(tmp_path, database_url):
    """Small limits, on SQLite (buckets in the process) and PostgreSQL (shared buckets)."""
    running = Service(
        tmp_path / "data", database_url=database_url, rate_limit=2, rate_limit_burst=5, auth_failure_limit=4
    )
    yield running
    running.stop()


async def test_every_api_response_carries_the_limit_and_the_remaining_count(limited: Service):
    async with limited.client(limited.keys["test"]) as api:
        first = await api.get("/v1/tenants")
        assert first.status_code == 200
        assert limits(first)[:2] == (5, 4)
        second = await api.get("/v1/tenants")
        limit, remaining, reset = limits(second)
        assert (limit, remaining) == (5, 3)
        assert 1 <= reset <= 3
        missing = await api.get("/v1/tenants/11111111-2222-3333-4444-555555555555")
        assert missing.status_code == 404 and "RateLimit-Remaining" in missing.headers
    async with limited.client(None) as anonymous:
        refused = await anonymous.get("/v1/tenants")
        assert refused.status_code == 401
        assert limits(refused)[:2] == (4, 3)  # no key: the address's budget of failed authentications


async def test_a_key_over_its_bucket_gets_429_with_retry_after_and_recovers(limited: Service):
    async with limited.client(limited.keys["test"]) as api:
        answers = [await api.get("/v1/tenants") for _ in range(12)]
        statuses = [r.status_code for r in answers]
        # The burst of 5, then refusals (a token or two may come back while the loop runs at 2/s).
        assert statuses[:5] == [200] * 5
        assert statuses.count(429) >= 4, statuses
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["detail"]["code"] == "rate_limited"
        retry_after = int(refused.headers["Retry-After"])
        assert retry_after >= 1
        assert limits(refused)[1] == 0
        # Spelling the header otherwise is the same key and the same bucket.
        for header in (f"bearer {limited.keys['test']}", f"BEARER  {limited.keys['test']}"):
            respelled = await api.get("/v1/tenants", headers={"Authorization": header})
            assert respelled.status_code == 429, header
        # Another key is not affected.
        async with limited.client(limited.keys["live"]) as other:
            assert (await other.get("/v1/tenants")).status_code == 200
        await asyncio.sleep(retry_after)
        assert (await api.get("/v1/tenants")).status_code == 200


async def test_failed_authentication_is_throttled_per_address_and_logged(limited: Service, caplog):
    caplog.set_level(logging.WARNING, logger="tenantcore.ratelimit")
    async with limited.client(WRONG) as guesser:
        statuses = [(await guesser.get("/v1/tenants")).status_code for _ in range(10)]
        assert statuses[:4] == [401] * 4
        assert statuses[5:] == [429] * 5, statuses
        refused = await guesser.get("/v1/tenants", headers={"Authorization": f"Bearer tc_test_{'1' * 48}"})
        assert refused.status_code == 429
        assert refused.json()["detail"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
    logged = [r.getMessage() for r in caplog.records]
    assert any("127.0.0.1" in m and "too many failed authentications" in m for m in logged), logged
    assert not any(WRONG in m for m in logged)


async def test_a_known_key_is_not_locked_out_by_someone_elses_guessing(limited: Service):
    async with limited.client(limited.keys["test"]) as api:
        assert (await api.get("/v1/tenants")).status_code == 200
        async with limited.client(WRONG) as guesser:
            for _ in range(6):
                await guesser.get("/v1/tenants")
            assert (await guesser.get("/v1/tenants")).status_code == 429
        assert (await api.get("/v1/tenants")).status_code == 200


async def test_the_sign_in_form_is_throttled_per_address(limited: Service):
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as browser:
        page = await browser.get("/app/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        said = []
        for _ in range(7):
            # Post/redirect/get: every answer sends the browser back to the sign-in page,
            # which says why.
            answer = await browser.post("/app/login", data={"csrf": csrf.group(1), "api_key": WRONG})
            assert answer.status_code == 303 and answer.headers["location"] == "/app/login"
            said.append((await browser.get("/app/login")).text)
        assert all("not valid" in page for page in said[:4])
        assert re.search(r"Too many failed sign-ins from your address; try again in \d+ s", said[-1])
        # The form and the API share the address's budget.
        async with limited.client(WRONG) as guesser:
            assert (await guesser.get("/v1/tenants")).status_code == 429


async def test_defaults_leave_a_polling_automation_alone(service: Service):
    """One sweep over 500 tenants' domain lists, ten at a time, at the default limit (100/s,
    burst 500): never refused, however fast the server answers."""
    async with service.client(service.keys["test"]) as api:
        assert (await api.get("/v1/tenants")).status_code == 200
        gate = asyncio.Semaphore(10)

        async def poll() -> httpx.Response:
            async with gate:
                return await api.get("/v1/tenants/11111111-2222-3333-4444-555555555555/domains")

        answers = await asyncio.gather(*(poll() for _ in range(500)))
        assert {r.status_code for r in answers} == {404}
        assert {int(r.headers["RateLimit-Limit"]) for r in answers} == {500}


async def test_random_keys_leave_nothing_behind(tmp_path):
    """An attacker's random keys get no bucket: memory does not grow with them."""
    running = Service(tmp_path / "data", auth_failure_limit=0)
    try:
        async with running.client(None) as anonymous:
            for _ in range(200):
                key = f"tc_live_{secrets.token_hex(24)}"
                response = await anonymous.get("/v1/tenants", headers={"Authorization": f"Bearer {key}"})
                assert response.status_code == 401
        async with running.client(running.keys["test"]) as api:
            assert (await api.get("/v1/tenants")).status_code == 200
        limiter = running.app.state.rate_limiter
        assert len(limiter.known) == 1
        assert limiter.keys.peek("anything").remaining == 500  # no bucket was made for it
        assert len(limiter.keys._buckets) == 1
    finally:
        running.stop()
