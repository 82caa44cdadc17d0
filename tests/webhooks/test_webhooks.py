"""Webhooks end to end: endpoints over the API, events delivered by the service's own worker to
a real receiver on loopback that verifies every Standard Webhooks signature; retries through
failures, order per domain, rotation, 410, slow receivers, and addresses that are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from tenantcore.accounts.models import Account
from tenantcore.config import Settings
from tenantcore.events.models import Event
from tenantcore.events.service import TYPES
from tenantcore.webhooks import credentials, signing, targets
from tenantcore.webhooks.models import WebhookEndpoint

from ..running import Service
from .receiver import receiving, until

TENANT = "6df58cd6-3610-45c7-9818-05c170acfe55"


@pytest.fixture
def service(tmp_path: Path):  # type: ignore[no-untyped-def]
    running = Service(tmp_path / "data", webhook_backoff=0.2, webhook_poll=0.1, webhook_timeout=1.0)
    yield running
    running.stop()


async def emit(service: Service, events: list[tuple[str, str]], mode: str = "test") -> list[int]:
    """Record events as the service does (type, domain), in one transaction."""
    async with service.database() as session:
        account = await session.scalar(select(Account.id))
        rows = [
            Event(account_id=account, mode=mode, tenant_id=TENANT, domain_name=d, type=t, message=f"{t} {d}", data={})
            for t, d in events
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


async def create(api: httpx.AsyncClient, url: str, **extra: object) -> dict:  # type: ignore[type-arg]
    response = await api.post("/v1/webhooks", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_every_event_type_arrives_once_per_id_despite_a_failing_receiver(service: Service) -> None:
    with receiving(fail_first=4) as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            assert endpoint["secret"].startswith("whsec_")
            receiver.secrets.append(endpoint["secret"])
            assert "secret" not in (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
            sent = [t for t in TYPES]
            ids = await emit(service, [(t, "acme.com") for t in sent])
            await until(lambda: len(receiver.ids()) == len(sent), "every event delivered")
            await asyncio.sleep(0.5)  # nothing more arrives: no duplicates once delivered
            assert receiver.bad_signatures == 0
            assert sorted(r.type for r in receiver.received) == sorted(sent)
            assert len(receiver.received) == len(receiver.ids())
            # One domain: delivered in the order the events happened, failures and retries included.
            assert [r.event_id for r in receiver.received] == ids
            log = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 200})).json()
            assert {d["status"] for d in log["deliveries"]} == {"delivered"}
            first = log["deliveries"][-1]  # oldest: the one that met the 500s
            assert [a["status_code"] for a in first["attempt_log"]][:2] == [500, 500]
            assert first["attempt_log"][-1]["status_code"] == 204 and first["attempts"] >= 5
            redo = await api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{first['id']}/redeliver")
            assert redo.status_code == 202
            await until(lambda: len(receiver.received) == len(sent) + 1, "the redelivery")
            assert receiver.received[-1].id == first["id"]  # the same webhook-id: receivers can skip it


async def test_endpoints_filter_types_and_deliver_per_mode_and_account(service: Service) -> None:
    with receiving() as picky, receiving() as everything:
        async with service.client(service.keys["test"]) as api:
            one = await create(api, picky.url, event_types=["domain.degraded"])
            picky.secrets.append(one["secret"])
            everything.secrets.append((await create(api, everything.url))["secret"])
            bad = await api.post("/v1/webhooks", json={"url": picky.url, "event_types": ["domain.exploded"]})
            assert bad.status_code == 400 and bad.json()["detail"]["code"] == "invalid_event_type"
            await emit(service, [("domain.degraded", "a.com"), ("domain.recovered", "a.com")])
            await emit(service, [("domain.degraded", "live.com")], mode="live")  # the live key's world
            await until(lambda: len(everything.ids()) == 2, "both events to the unfiltered endpoint")
            await until(lambda: len(picky.ids()) == 1, "the degraded event to the filtered one")
            await asyncio.sleep(0.5)
            assert [r.type for r in picky.received] == ["domain.degraded"]
            assert {r.domain for r in everything.received} == {"a.com"}


async def test_rotation_signs_with_both_secrets_during_the_overlap(service: Service) -> None:
    with receiving() as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            old = endpoint["secret"]
            rotated = await api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 3600})
            assert rotated.status_code == 200 and rotated.json()["secret"] != old
            receiver.secrets.append(old)  # a receiver that has not switched yet still verifies
            assert (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202
            await until(lambda: len(receiver.ids()) == 1, "the test event")
            assert receiver.received[0].type == "webhook.test" and receiver.signatures_seen == [2]
            receiver.secrets[:] = [rotated.json()["secret"]]  # and one that has switched too
            await api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 0})
            # Without overlap the replaced secret stops at once: the one we hold no longer verifies.
            await api.post(f"/v1/webhooks/{endpoint['id']}/test")
            await until(lambda: receiver.bad_signatures >= 1, "a delivery signed only by the newer secret")


async def test_410_disables_the_endpoint_with_an_event(service: Service) -> None:
    with receiving(status=410) as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            receiver.secrets.append(endpoint["secret"])
            await emit(service, [("domain.verified", "gone.com"), ("domain.dkim_enabled", "gone.com")])

            async def disabled() -> bool:
                return not (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()["enabled"]

            await until_async(disabled, "disabled after 410")
            read = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
            assert "410" in read["disabled_reason"]
            events = (await api.get("/v1/events", params={"type": "webhook.endpoint_disabled"})).json()
            assert events["total"] == 1
            assert receiver.requests == 1  # nothing more is sent to an endpoint that said Gone


async def until_async(probe: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await probe():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within:.0f} s: {what}")


async def test_a_hanging_receiver_never_stalls_another_endpoint(service: Service) -> None:
    with receiving(hang=5.0) as slow, receiving() as fast:
        async with service.client(service.keys["test"]) as api:
            slow.secrets.append((await create(api, slow.url))["secret"])
            fast.secrets.append((await create(api, fast.url))["secret"])
            started = time.monotonic()
            await emit(service, [("domain.degraded", f"d{i}.com") for i in range(30)])
            await until(lambda: len(fast.ids()) == 30, "every event at the fast endpoint", within=10)
            assert time.monotonic() - started < 5.0  # sooner than one answer of the slow one


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_non_public_targets_are_refused_in_live_mode(url: str) -> None:
    with pytest.raises(targets.TargetRefused, match="not a public address"):
        await targets.check(url, "public")
    await targets.check(url, "any")  # the operator's setting lets them through


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    ],
)
async def test_test_keys_reach_loopback_but_never_private_ranges_or_metadata(url: str) -> None:
    await targets.check("http://127.0.0.1:9/hook", "loopback")
    with pytest.raises(targets.TargetRefused):
        await targets.check(url, "loopback")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://h:99999/",
        "http://[::1/x",
        "http://127.0.0.1:0/hook",
        "http://127.0.0.1:9/h\x01ook",
        "http://127.0.0.1:9/h\x00ook",
        "http://127.0.0.1:9/h ook",
        " http://127.0.0.1:9/hook",
        "http://127.0.0.1:9/hook\n",
        "http://127.0.0.1:9/h\u00a0ook",
    ],
)
async def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(targets.TargetRefused):
        await targets.check(url, "any")


async def test_the_api_refuses_urls_with_control_characters_or_whitespace(service: Service) -> None:
    async with service.client(service.keys["test"]) as api:
        for url in ("http://127.0.0.1:9/h\x01ook", "http://127.0.0.1:9/h ook", "http://127.0.0.1:9/h\took"):
            created = await api.post("/v1/webhooks", json={"url": url})
            assert created.status_code == 400, (url, created.text)
            assert created.json()["detail"]["code"] == "webhook_url_not_allowed"
            assert "percent-encode" in created.json()["detail"]["message"]
        endpoint = await create(api, "http://127.0.0.1:9/hook")
        changed = await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"url": "http://127.0.0.1:9/h\x01ook"})
        assert changed.status_code == 400 and changed.json()["detail"]["code"] == "webhook_url_not_allowed"
        assert (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()["url"] == "http://127.0.0.1:9/hook"
        assert (await api.get("/v1/webhooks")).json()["count"] == 1


async def test_live_keys_never_reach_loopback_and_test_keys_do_on_a_local_sandbox(service: Service) -> None:
    assert service.settings.local_sandbox  # the defaults: sandbox on, listening on 127.0.0.1
    async with service.client(service.keys["live"]) as live, service.client(service.keys["test"]) as test:
        refused = await live.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert refused.status_code == 400 and refused.json()["detail"]["code"] == "webhook_url_not_allowed"
        assert (await test.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})).status_code == 201
        assert (await live.get("/v1/webhooks")).json()["count"] == 0  # each mode sees its own
        missing = await live.patch("/v1/webhooks/nope", json={"enabled": False})
        assert missing.status_code == 404 and missing.json()["detail"]["code"] == "webhook_not_found"


async def test_an_endpoint_failing_for_too_long_is_disabled_with_an_event(tmp_path: Path) -> None:
    running = Service(
        tmp_path / "data", webhook_backoff=0.2, webhook_poll=0.1, webhook_timeout=1.0, webhook_disable_after=1.5
    )
    try:
        with receiving(status=503) as receiver:
            async with running.client(running.keys["test"]) as api:
                endpoint = await create(api, receiver.url)
                receiver.secrets.append(endpoint["secret"])
                await emit(running, [("domain.degraded", f"f{i}.com") for i in range(3)])

                async def disabled() -> bool:
                    return not (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()["enabled"]

                await until_async(disabled, "disabled after failing past webhook_disable_after")
                read = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
                assert "failed for" in read["disabled_reason"] and read["failing_since"] is not None
                events = (await api.get("/v1/events", params={"type": "webhook.endpoint_disabled"})).json()
                assert events["total"] == 1 and endpoint["id"] in events["events"][0]["message"]
                assert receiver.url not in events["events"][0]["message"]  # no URL (it may hold a token)
                enabled = await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": True})
                assert enabled.json()["enabled"] and enabled.json()["failing_since"] is None
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("settings", "local"),
    [
        ({}, True),  # `tenantcore serve` out of the box: a developer's own sandbox
        ({"host": "::1", "public_url": "http://localhost:8000"}, True),
        ({"sandbox": False}, False),  # a production server
        ({"host": "0.0.0.0"}, False),  # others reach it
        ({"host": "10.0.0.5"}, False),
        ({"public_url": "https://tenantcore.example.com"}, False),  # behind a proxy on loopback
    ],
)
def test_test_keys_reach_loopback_only_on_a_local_sandbox(tmp_path: Path, settings: dict, local: bool) -> None:  # type: ignore[type-arg]
    configured = Settings(data_dir=tmp_path, **settings)
    assert targets.policy(configured, "test") == ("loopback" if local else "public")
    assert targets.policy(configured, "live") == "public"
    allowed = Settings(data_dir=tmp_path, webhook_allow_private=True, **settings)
    assert targets.policy(allowed, "test") == targets.policy(allowed, "live") == "any"


async def test_on_a_production_server_test_keys_cannot_reach_its_loopback(tmp_path: Path) -> None:
    """A server several accounts share: a test key must not make it POST to its own loopback
    ports and read back what answered (a port scan through the delivery log)."""
    running = Service(tmp_path / "data", sandbox=False, webhook_backoff=0.2, webhook_poll=0.1, webhook_timeout=1.0)
    try:
        with receiving() as receiver:
            async with running.client(running.keys["test"]) as api:
                refused = await api.post("/v1/webhooks", json={"url": receiver.url})
                assert refused.status_code == 400, refused.text
                assert refused.json()["detail"]["code"] == "webhook_url_not_allowed"
                assert "not a public address" in refused.json()["detail"]["message"]
                # An endpoint stored before (made on a local sandbox, or by an older version) is
                # refused again at delivery: nothing reaches the receiver, the log says why.
                async with running.database() as session:
                    account = await session.scalar(select(Account.id))
                    row = WebhookEndpoint(
                        account_id=account,
                        mode="test",
                        url=receiver.url,
                        description="",
                        event_types=[],
                        secret=credentials.seal(running.runtime.secret, signing.new_secret()),
                    )
                    session.add(row)
                    await session.flush()
                    endpoint_id = row.id
                assert (await api.post(f"/v1/webhooks/{endpoint_id}/test")).status_code == 202

                async def refused_at_delivery() -> bool:
                    log = (await api.get(f"/v1/webhooks/{endpoint_id}/deliveries")).json()["deliveries"]
                    return bool(log and log[0]["attempt_log"])

                await until_async(refused_at_delivery, "a refused delivery attempt in the log")
                attempt = (await api.get(f"/v1/webhooks/{endpoint_id}/deliveries")).json()["deliveries"][0]
                first = attempt["attempt_log"][0]
                assert first["status_code"] is None and "not a public address" in first["error"]
                assert receiver.requests == 0
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        # Stored before URLs were checked for control characters: the client refuses it.
        ({"url": "http://127.0.0.1:9/h\x01ook"}, "whitespace or a control character"),
        # Sealed under another server secret (TENANTCORE_SECRET_KEY changed): nothing can sign.
        ({"secret": credentials.seal(b"another server secret", signing.new_secret())}, "could not send"),
    ],
)
async def test_a_delivery_that_cannot_be_sent_is_retried_then_fails(tmp_path: Path, broken: dict, error: str) -> None:  # type: ignore[type-arg]
    """Whatever stops a delivery before it leaves counts as a failed attempt: retried with
    backoff and failed after the retry window, never re-sent forever on every lease."""
    running = Service(
        tmp_path / "data", webhook_backoff=0.2, webhook_poll=0.1, webhook_timeout=1.0, webhook_retry_for=1.5
    )
    try:
        async with running.client(running.keys["test"]) as api:
            endpoint = await create(api, "http://127.0.0.1:9/hook")
            async with running.database() as session:
                await session.execute(
                    update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"]).values(**broken)
                )
            assert (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202

            async def failed() -> bool:
                log = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["deliveries"]
                return log[0]["status"] == "failed"

            await until_async(failed, "the delivery failed after the retry window")
            delivery = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["deliveries"][0]
            assert delivery["attempts"] >= 2 and len(delivery["attempt_log"]) == delivery["attempts"]
            assert all(a["status_code"] is None and error in a["error"] for a in delivery["attempt_log"])
            assert error in delivery["last_error"]
            read = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
            assert read["failing_since"] is not None  # the endpoint's failure clock runs too
    finally:
        running.stop()


async def test_bad_ids_and_text_are_4xx_on_every_database(tmp_path: Path, database_url: str) -> None:
    """SQLite and PostgreSQL alike: a NUL in a path or a field, a page cursor past 64 bits is a
    4xx with its code, never a 500 (PostgreSQL refuses NUL in text, and integers past 2^63)."""
    running = Service(tmp_path / "data", database_url=database_url, worker=False)
    try:
        async with running.client(running.keys["test"]) as api:
            endpoint = await create(api, "http://127.0.0.1:9/hook", description="Ops, München 🚀")
            hook = f"/v1/webhooks/{endpoint['id']}"
            queued = (await api.post(f"{hook}/test")).json()["delivery_id"]

            async def refused(method: str, path: str, status: int, code: str, **body: object) -> None:
                answer = await api.request(method, path, **({"json": body} if body else {}))
                assert answer.status_code == status, (method, path, body, answer.text)
                assert answer.json()["detail"]["code"] == code, (method, path, body, answer.text)

            await refused("GET", f"{hook}/deliveries?before=9223372036854775808", 400, "invalid_request")
            await refused("GET", f"{hook}/deliveries?before=99999999999999999999", 400, "invalid_request")
            last = await api.get(f"{hook}/deliveries", params={"before": 2**63 - 1})
            assert last.status_code == 200 and [d["id"] for d in last.json()["deliveries"]] == [queued]
            for method, path in [
                ("GET", "/v1/webhooks/%00"),
                ("PATCH", "/v1/webhooks/%00"),
                ("DELETE", "/v1/webhooks/%00"),
                ("POST", "/v1/webhooks/%00/rotate-secret"),
                ("POST", "/v1/webhooks/%00/test"),
                ("GET", "/v1/webhooks/%00/deliveries"),
                ("POST", f"/v1/webhooks/%00/deliveries/{queued}/redeliver"),
                ("GET", f"/v1/webhooks/{endpoint['id'].upper()}"),
            ]:
                await refused(
                    method, path, 404, "webhook_not_found", **({"enabled": True} if method == "PATCH" else {})
                )
            for delivery in ("%00", "msg_%00", queued.upper()):
                await refused("POST", f"{hook}/deliveries/{delivery}/redeliver", 404, "delivery_not_found")
            await refused("POST", "/v1/webhooks", 400, "webhook_url_not_allowed", url="http://127.0.0.1:9/h\x00ook")
            await refused("PATCH", hook, 400, "webhook_url_not_allowed", url="http://127.0.0.1:9/h\x00ook")
            for text in ("a\x00b", "two\nlines", "a\tb", "\x7f", "\u202eevil"):
                await refused(
                    "POST", "/v1/webhooks", 400, "invalid_request", url="http://127.0.0.1:9/h", description=text
                )
                await refused("PATCH", hook, 400, "invalid_request", description=text)
            read = (await api.get(hook)).json()
            assert read["description"] == "Ops, München 🚀" and read["url"] == "http://127.0.0.1:9/hook"
            assert (await api.get("/v1/webhooks")).json()["count"] == 1
    finally:
        running.stop()


async def test_rotating_again_during_an_overlap_keeps_every_older_secret_signing(service: Service) -> None:
    """As Svix: each replaced secret signs until its own overlap ends, so a receiver that has
    not switched since the first of several rotations keeps verifying; at most five beside
    the current one."""
    with receiving() as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            hook = f"/v1/webhooks/{endpoint['id']}"
            receiver.secrets.append(endpoint["secret"])  # the first secret only, never switched
            newest = ""
            for overlap in (3600, 7200):
                rotated = await api.post(f"{hook}/rotate-secret", json={"overlap_seconds": overlap})
                assert rotated.status_code == 200, rotated.text
                newest = rotated.json()["secret"]
            assert (await api.post(f"{hook}/test")).status_code == 202
            await until(lambda: len(receiver.ids()) == 1, "the test event, verified with the first secret")
            assert receiver.signatures_seen == [3] and receiver.bad_signatures == 0  # current + two replaced
            read = (await api.get(hook)).json()
            assert read["previous_secret_until"] is not None  # the later overlap's end (7200 s)

            for _ in range(3):  # five replaced secrets now sign beside the current one
                assert (await api.post(f"{hook}/rotate-secret", json={"overlap_seconds": 600})).status_code == 200
            refused = await api.post(f"{hook}/rotate-secret", json={"overlap_seconds": 600})
            assert refused.status_code == 409 and refused.json()["detail"]["code"] == "webhook_secret_limit_reached"
            # Without overlap the current secret is not kept: always possible.
            last = await api.post(f"{hook}/rotate-secret", json={"overlap_seconds": 0})
            assert last.status_code == 200
            receiver.secrets[:] = [newest]  # a receiver on the second rotation's secret
            assert (await api.post(f"{hook}/test")).status_code == 202
            await until(lambda: len(receiver.received) == 2, "the second test event")
            assert receiver.signatures_seen[-1] == 6 and receiver.bad_signatures == 0


async def test_a_redelivery_keeps_the_log_and_retries_in_a_new_round(tmp_path: Path) -> None:
    """Redelivering keeps the delivery's creation time and counts on from its attempts; it
    gets a whole new round of retries (not one try because the delivery is old)."""
    running = Service(
        tmp_path / "data", webhook_backoff=0.2, webhook_poll=0.1, webhook_timeout=1.0, webhook_retry_for=1.0
    )
    try:
        with receiving(status=503) as receiver:
            async with running.client(running.keys["test"]) as api:
                endpoint = await create(api, receiver.url)
                receiver.secrets.append(endpoint["secret"])
                hook = f"/v1/webhooks/{endpoint['id']}"
                assert (await api.post(f"{hook}/test")).status_code == 202

                async def delivery() -> dict:  # type: ignore[type-arg]
                    return (await api.get(f"{hook}/deliveries")).json()["deliveries"][0]

                async def failed_after(attempts: int) -> bool:
                    found = await delivery()
                    return found["status"] == "failed" and found["attempts"] > attempts

                await until_async(lambda: failed_after(1), "the first round failed")
                first = await delivery()
                await asyncio.sleep(1.2)  # the delivery is now older than the retry window
                redo = await api.post(f"{hook}/deliveries/{first['id']}/redeliver")
                assert redo.status_code == 202
                await until_async(lambda: failed_after(first["attempts"] + 1), "a second round of retries")
                second = await delivery()
                assert second["created_at"] == first["created_at"]
                assert len(second["attempt_log"]) == second["attempts"] == receiver.requests
                assert second["attempts"] >= first["attempts"] + 2  # retried, not failed at its first try
    finally:
        running.stop()
