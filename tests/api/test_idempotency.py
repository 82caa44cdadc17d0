"""`Idempotency-Key`: a client that times out and retries never adds twice or burns two slots;
the same key with another body is refused; concurrent requests with one key run once."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlalchemy import func, select

from tenantcore.domains.models import Domain

from ..running import Service


async def slow_microsoft(service: Service, seconds: float, count: int = 1) -> None:
    sandbox = service.runtime.sandbox
    assert sandbox is not None and sandbox.emulator is not None
    emulator = sandbox.emulator.url
    fault = {"kind": "latency", "service": "graph", "match": "/domains", "count": count, "latency": seconds}
    async with httpx.AsyncClient(headers={"X-Emulator-Token": sandbox.control_token}) as control:
        assert (await control.post(f"{emulator}/_emulator/faults", json=fault)).status_code == 201


async def domains_in_db(service: Service) -> int:
    async with service.database() as session:
        return int(await session.scalar(select(func.count()).select_from(Domain)) or 0)


async def test_a_retry_after_a_timeout_adds_once(service: Service, api: httpx.AsyncClient, tenant_id: str) -> None:
    await slow_microsoft(service, 2.0)
    url = f"/v1/tenants/{tenant_id}/domains"
    headers = {"Idempotency-Key": "add-acme-1"}
    body = {"domain": "once.acme-corp.com"}
    try:
        await api.post(url, json=body, headers=headers, timeout=0.5)
        raise AssertionError("the first call should have timed out")
    except httpx.ReadTimeout:
        pass
    running = await api.post(url, json=body, headers=headers)
    assert running.status_code == 409 and running.json()["detail"]["code"] == "idempotency_key_in_use"
    for _ in range(60):
        again = await api.post(url, json=body, headers=headers)
        if again.status_code != 409:
            break
        await asyncio.sleep(0.1)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["domain"]["domain_name"] == "once.acme-corp.com"
    assert await domains_in_db(service) == 1
    listed = (await api.get(url)).json()
    assert listed["count"] == 1
    other = await api.post(url, json={"domain": "once.acme-corp.com"}, headers={"Idempotency-Key": "add-acme-1b"})
    assert other.status_code == 409 and other.json()["detail"]["code"] == "domain_already_exists"


async def test_another_body_with_the_same_key_is_refused(api: httpx.AsyncClient, tenant_id: str) -> None:
    url = f"/v1/tenants/{tenant_id}/domains"
    first = await api.post(url, json={"domain": "a.acme-corp.com"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    reused = await api.post(url, json={"domain": "b.acme-corp.com"}, headers={"Idempotency-Key": "k-1"})
    assert reused.status_code == 422 and reused.json()["detail"]["code"] == "idempotency_key_reused"
    invalid = await api.post(url, json={"domain": "c.acme-corp.com"}, headers={"Idempotency-Key": "spaces are bad"})
    assert invalid.status_code == 400 and invalid.json()["detail"]["code"] == "invalid_idempotency_key"
    # A refusal is kept too: the same request gets the same 400, without running again.
    bad = {"domain": "not a domain"}
    assert (await api.post(url, json=bad, headers={"Idempotency-Key": "k-2"})).status_code == 400
    replay = await api.post(url, json=bad, headers={"Idempotency-Key": "k-2"})
    assert replay.status_code == 400 and replay.headers["idempotent-replayed"] == "true"


async def test_concurrent_requests_with_one_key_run_once(
    service: Service, api: httpx.AsyncClient, tenant_id: str
) -> None:
    await slow_microsoft(service, 1.0)
    url = f"/v1/tenants/{tenant_id}/domains"
    calls = [
        api.post(url, json={"domain": "race.acme-corp.com"}, headers={"Idempotency-Key": "race"}) for _ in range(6)
    ]
    answers = await asyncio.gather(*calls)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert await domains_in_db(service) == 1


async def test_keys_belong_to_the_api_key_and_a_replayed_secret_is_sealed_at_rest(
    service: Service, api: httpx.AsyncClient
) -> None:
    headers = {"Idempotency-Key": "hook-1"}
    made = await api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
    again = await api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
    assert made.status_code == again.status_code == 201 and again.json() == made.json()
    assert (await api.get("/v1/webhooks")).json()["count"] == 1
    secret = made.json()["secret"]
    for path in service.settings.data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    other = await service.new_account()
    async with service.client(other["test"]) as theirs:  # another caller's same key is theirs alone
        mine = await theirs.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
        assert mine.status_code == 201 and mine.json()["id"] != made.json()["id"]


async def test_a_rotated_key_cannot_fetch_its_successor_by_replay(service: Service) -> None:
    """Key rotation is never replayed: the old key (perhaps the leaked one) gets a 401."""
    old = service.keys["test"]
    async with service.client(old) as client:
        rotated = await client.post("/v1/api-key/rotate", headers={"Idempotency-Key": "rotate-1"})
        assert rotated.status_code in (200, 201), rotated.text
        again = await client.post("/v1/api-key/rotate", headers={"Idempotency-Key": "rotate-1"})
        assert again.status_code == 401 and "idempotent-replayed" not in again.headers


async def whole_response(reader: asyncio.StreamReader) -> bytes:
    """Headers and the whole body (as a client has it before it can act on the answer)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def test_a_retry_the_moment_the_answer_arrives_is_replayed(service: Service, tenant_id: str) -> None:
    """The first response is kept before its last bytes leave: no window in which the client
    has its answer and a retry still hears "still running" (409). The retry goes out on a
    second connection, already open, the instant the first answer's bytes arrive."""
    host, port = service.url.removeprefix("http://").split(":")
    for i in range(10):
        body = json.dumps({"domain": f"not a domain {i}"}).encode()  # a quick 400: the widest window
        request = (
            f"POST /v1/tenants/{tenant_id}/domains HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {service.keys['test']}\r\nIdempotency-Key: fast-{i}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        (r1, w1), (r2, w2) = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
        w1.write(request)
        first = await whole_response(r1)
        w2.write(request)
        again = await whole_response(r2)
        for writer in (w1, w2):
            writer.close()
        assert first.startswith(b"HTTP/1.1 400"), first
        assert again.startswith(b"HTTP/1.1 400") and b"idempotent-replayed: true" in again.lower(), again
