"""What the outbox promises about each delivery, checked against real receivers on loopback and
the service's own worker (SQLite and PostgreSQL): exponential backoff with jitter and a cap, the
retry window, redirects never followed, a truthful delivery log, deleting an endpoint, and
accounts that never reach each other's endpoints."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantcore.config import Settings
from tenantcore.emulator import ThreadedServer
from tenantcore.webhooks import outbox
from tenantcore.webhooks.models import WebhookDelivery

from ..running import Service
from .receiver import receiving, until

Json = dict[str, Any]


# --- helpers -------------------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    webhook_id: str | None


@dataclass
class Recorder:
    """A receiver that answers every request, whatever its method or path, with `status` (and
    `headers`) and remembers it. Unlike `receiver.Receiver` it also sees what a client that
    followed a redirect would send (a GET after 301/302)."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        await request.body()
        with self.lock:
            self.hits.append(Hit(request.method, request.url.path, request.headers.get("webhook-id")))
        return Response(status_code=self.status, headers=self.headers)

    def count(self, webhook_id: str | None = None) -> int:
        with self.lock:
            return sum(1 for h in self.hits if webhook_id is None or h.webhook_id == webhook_id)


@contextmanager
def recording(**options: Any) -> Iterator[Recorder]:
    recorder = Recorder(**options)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(routes=[Route("/{rest:path}", recorder.handle, methods=methods)])
    server = ThreadedServer(app).start()
    recorder.url = f"{server.url}/hook"
    try:
        yield recorder
    finally:
        server.stop()


@contextmanager
def running(tmp_path: Path, database_url: str, **settings: object) -> Iterator[Service]:
    """The whole service with short webhook clocks (first retry after 0.2 s, outbox looked at
    every 0.1 s) unless a test says otherwise."""
    options: dict[str, object] = {"webhook_backoff": 0.2, "webhook_poll": 0.1, "webhook_timeout": 5.0}
    service = Service(tmp_path / "data", database_url=database_url, **(options | settings))
    try:
        yield service
    finally:
        service.stop()


async def create(api: httpx.AsyncClient, url: str, **extra: object) -> Json:
    response = await api.post("/v1/webhooks", json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def send_test(api: httpx.AsyncClient, endpoint_id: str) -> str:
    response = await api.post(f"/v1/webhooks/{endpoint_id}/test")
    assert response.status_code == 202, response.text
    return response.json()["delivery_id"]


async def log_of(api: httpx.AsyncClient, endpoint_id: str) -> list[Json]:
    response = await api.get(f"/v1/webhooks/{endpoint_id}/deliveries", params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


async def delivery(api: httpx.AsyncClient, endpoint_id: str, delivery_id: str) -> Json:
    found = [d for d in await log_of(api, endpoint_id) if d["id"] == delivery_id]
    assert found, f"delivery {delivery_id} not in the log"
    return found[0]


def settled(entry: Json) -> bool:
    """The log reads deliveries, then their attempts (two statements: on PostgreSQL not one
    snapshot), so an entry read while an attempt is recorded can list one attempt more than
    `attempts`: only judge entries where the two agree."""
    return entry["attempts"] == len(entry["attempt_log"])


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, within: float = 30.0) -> Any:
    """Poll `probe` until it returns something truthy, and return that."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if found := await probe():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within:.0f} s: {what}")


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def not_found(response: httpx.Response) -> bool:
    return response.status_code == 404 and response.json()["detail"]["code"] == "webhook_not_found"


# --- 1. backoff ----------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_with_jitter_up_to_the_cap(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, webhook_backoff=5.0)
    means: list[float] = []
    for attempts in range(1, 20):
        base = min(outbox.BACKOFF_CAP, 5.0 * 2 ** (attempts - 1))
        draws = [outbox.backoff(settings, attempts) for _ in range(400)]
        # The promised jitter, ±25 % around the (capped) base, over its whole width.
        assert all(0.75 * base <= d <= 1.25 * base for d in draws), attempts
        assert min(draws) < 0.85 * base and max(draws) > 1.15 * base, attempts
        assert len(set(draws)) > 390, attempts  # not a wave: every retry at its own time
        means.append(statistics.fmean(draws))
    assert 4.5 < means[0] < 5.5  # the first retry waits about `webhook_backoff`
    doubling = [later / earlier for earlier, later in itertools.pairwise(means)]
    capped_from = next(i for i in range(1, 30) if 5.0 * 2 ** (i - 1) >= outbox.BACKOFF_CAP)
    assert all(1.8 < r < 2.2 for r in doubling[: capped_from - 2]), doubling
    assert all(0.9 < r < 1.1 for r in doubling[capped_from - 1 :]), doubling  # flat at the cap
    assert 0.9 * outbox.BACKOFF_CAP < means[-1] < 1.1 * outbox.BACKOFF_CAP


@pytest.mark.parametrize("attempts", [30, 1025, 5000])
def test_backoff_stays_at_the_cap_however_many_attempts(tmp_path: Path, attempts: int) -> None:
    # A year-long `webhook_retry_for` reaches ~1,400 attempts at 6 h apart; 2 ** 1024 overflowed
    # a float, the outcome was never recorded and the delivery was re-sent every lease.
    settings = Settings(data_dir=tmp_path, webhook_backoff=5.0)
    draws = [outbox.backoff(settings, attempts) for _ in range(50)]
    assert all(0.75 * outbox.BACKOFF_CAP <= d <= 1.25 * outbox.BACKOFF_CAP for d in draws)
    assert len(set(draws)) > 1


# --- 4. the delivery log (and 1., end to end) ----------------------------------------------------


async def test_the_log_shows_attempts_codes_latency_and_the_next_retry(tmp_path: Path, database_url: str) -> None:
    hang = 0.4  # every answer takes this long: the latency the log must show
    with running(tmp_path, database_url) as service, receiving(fail_first=10**6, hang=hang) as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            receiver.secrets.append(endpoint["secret"])
            sent = await send_test(api, endpoint["id"])

            async def failed_and_waiting() -> Json | None:
                entry = await delivery(api, endpoint["id"], sent)
                return entry if entry["status"] == "pending" and entry["attempts"] >= 2 and settled(entry) else None

            pending = await eventually(failed_and_waiting, "two failed attempts in the log")
            attempts, tried = pending["attempts"], pending["attempt_log"]
            assert [a["status_code"] for a in tried] == [500] * attempts
            assert pending["last_status"] == 500 and pending["delivered_at"] is None
            # The next try is one backoff after the last: 0.2 s doubling per attempt, ±25 %.
            assert pending["next_attempt_at"] is not None
            wait = (at(pending["next_attempt_at"]) - at(tried[-1]["attempted_at"])).total_seconds()
            base = 0.2 * 2 ** (attempts - 1)
            assert 0.75 * base - 0.001 <= wait <= 1.25 * base + 0.001, (attempts, wait)
            for n, (earlier, later) in enumerate(itertools.pairwise(tried), start=1):  # none came early
                gap = (at(later["attempted_at"]) - at(earlier["attempted_at"])).total_seconds()
                assert gap >= 0.75 * 0.2 * 2 ** (n - 1), (n, gap)

            receiver.fail_first = 0  # the receiver recovers

            async def delivered() -> Json | None:
                entry = await delivery(api, endpoint["id"], sent)
                return entry if entry["status"] == "delivered" and settled(entry) else None

            done = await eventually(delivered, "delivered once the receiver recovers")
            log = done["attempt_log"]
            assert done["attempts"] == len(log) > attempts
            assert [a["status_code"] for a in log] == [500] * (len(log) - 1) + [204]
            assert done["last_status"] == 204 and done["last_error"] is None
            assert done["next_attempt_at"] is None and done["delivered_at"] is not None
            for attempt in log:  # in milliseconds, about what the receiver took
                assert hang * 1000 <= attempt["latency_ms"] <= hang * 1000 + 2500, log
            assert done["last_latency_ms"] == log[-1]["latency_ms"]
            assert receiver.ids() == {sent} and receiver.bad_signatures == 0


# --- 2. the retry window -------------------------------------------------------------------------


async def test_a_delivery_failing_past_the_retry_window_ends_failed_and_is_not_tried_again(
    tmp_path: Path, database_url: str
) -> None:
    window = 1.0
    with running(tmp_path, database_url, webhook_retry_for=window) as service, recording(status=503) as receiver:
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, receiver.url)
            first = await send_test(api, endpoint["id"])

            async def failed(delivery_id: str) -> Json | None:
                entry = await delivery(api, endpoint["id"], delivery_id)
                return entry if entry["status"] == "failed" and settled(entry) else None

            gave_up = await eventually(lambda: failed(first), "failed once the retry window passed")
            log = gave_up["attempt_log"]
            assert len(log) >= 2 and {a["status_code"] for a in log} == {503}
            assert gave_up["last_status"] == 503 and gave_up["next_attempt_at"] is None
            # It gave up at the first attempt past the window, not before it and not later.
            created = at(gave_up["created_at"])
            assert (at(log[-1]["attempted_at"]) - created).total_seconds() >= window
            assert (at(log[-2]["attempted_at"]) - created).total_seconds() < window
            assert receiver.count(first) == len(log)

            # The worker keeps going (another delivery to the same endpoint is tried until its
            # own window passes), and the failed one is never sent again meanwhile.
            second = await send_test(api, endpoint["id"])
            await eventually(lambda: failed(second), "the second delivery failed too")
            assert receiver.count(second) >= 2
            assert receiver.count(first) == len(log)
            assert (await delivery(api, endpoint["id"], first))["attempts"] == len(log)
            assert (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()["enabled"]  # 3 days not yet


# --- 3. redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_counts_as_a_failure(tmp_path: Path, database_url: str, code: int) -> None:
    with (
        running(tmp_path, database_url) as service,
        recording(status=200) as elsewhere,
        recording(status=code) as redirecting,
    ):
        redirecting.headers["location"] = elsewhere.url  # loopback too, and it would say 200
        async with service.client(service.keys["test"]) as api:
            endpoint = await create(api, redirecting.url)
            sent = await send_test(api, endpoint["id"])

            async def retried() -> Json | None:
                entry = await delivery(api, endpoint["id"], sent)
                # Delivered (a followed redirect) is an answer too: the asserts below say why.
                return entry if (entry["attempts"] >= 2 or entry["status"] != "pending") and settled(entry) else None

            entry = await eventually(retried, "a second attempt after the redirect")
            # Only 2xx is delivered: a 3xx is a failed attempt, retried like any other.
            assert entry["status"] == "pending" and entry["delivered_at"] is None
            assert entry["last_status"] == code
            assert {a["status_code"] for a in entry["attempt_log"]} == {code}
            assert redirecting.count(sent) >= 2
            assert elsewhere.count() == 0  # the Location was never asked


# --- 5. deleting an endpoint ---------------------------------------------------------------------


async def test_a_deleted_endpoint_is_gone_and_its_pending_deliveries_are_never_sent(
    tmp_path: Path, database_url: str
) -> None:
    # A first retry after about a second: time to delete between two attempts.
    with (
        running(tmp_path, database_url, webhook_backoff=1.0) as service,
        recording(status=503) as doomed,
        recording(status=204) as kept,
    ):
        async with service.client(service.keys["test"]) as api:
            gone = await create(api, doomed.url)
            other = await create(api, kept.url)
            retried = await send_test(api, gone["id"])
            queued = await send_test(api, gone["id"])  # waits behind the first (same order key)

            async def between_attempts() -> Json | None:
                entry = await delivery(api, gone["id"], retried)
                due = at(entry["next_attempt_at"]) if entry["next_attempt_at"] else None
                left = (due - datetime.now(UTC)).total_seconds() if due else 0.0
                return entry if entry["attempts"] >= 1 and settled(entry) and left > 0.4 else None

            entry = await eventually(between_attempts, "a failed attempt with the retry still ahead")
            assert (await api.delete(f"/v1/webhooks/{gone['id']}")).status_code == 204
            sent_before = doomed.count()
            assert sent_before == entry["attempts"] and doomed.count(queued) == 0

            assert not_found(await api.get(f"/v1/webhooks/{gone['id']}"))
            assert not_found(await api.get(f"/v1/webhooks/{gone['id']}/deliveries"))
            assert not_found(await api.post(f"/v1/webhooks/{gone['id']}/test"))
            assert not_found(await api.post(f"/v1/webhooks/{gone['id']}/deliveries/{retried}/redeliver"))
            assert not_found(await api.delete(f"/v1/webhooks/{gone['id']}"))  # twice: 404
            listed = (await api.get("/v1/webhooks")).json()
            assert [w["id"] for w in listed["webhooks"]] == [other["id"]] and listed["count"] == 1
            async with service.database() as session:
                left = await session.scalar(
                    select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.endpoint_id == gone["id"])
                )
            assert left == 0  # its outbox rows went with it: no worker can pick them up

            # Past the moment the retry was due, the worker is still delivering (two rounds to
            # the other endpoint), and the deleted one got nothing more.
            due = at(entry["next_attempt_at"])
            await until(lambda: datetime.now(UTC) > due, "the deleted endpoint's retry time")
            for _ in range(2):
                probe = await send_test(api, other["id"])
                await until(lambda probe=probe: kept.count(probe) == 1, "a test delivery to the endpoint kept")
            assert doomed.count() == sent_before


# --- 6. accounts -------------------------------------------------------------------------------


async def test_another_account_gets_webhook_not_found_for_every_endpoint_operation(
    tmp_path: Path, database_url: str
) -> None:
    with running(tmp_path, database_url) as service, receiving() as receiver:
        other = await service.new_account()
        async with service.client(service.keys["test"]) as ours, service.client(other["test"]) as theirs:
            endpoint = await create(ours, receiver.url, description="ours")
            receiver.secrets.append(endpoint["secret"])
            sent = await send_test(ours, endpoint["id"])
            await until(lambda: receiver.ids() == {sent}, "our test delivery")
            hook = f"/v1/webhooks/{endpoint['id']}"
            missing = "/v1/webhooks/7d0c2a55-2a43-4b71-8d43-6f1cf2c1e1a0"  # exists nowhere
            calls: list[tuple[str, str, Json | None]] = [
                ("GET", "", None),
                ("PATCH", "", {"enabled": False, "url": "http://127.0.0.1:9/theirs", "description": "theirs"}),
                ("DELETE", "", None),
                ("POST", "/test", None),
                ("POST", "/rotate-secret", {"overlap_seconds": 0}),
                ("GET", "/deliveries", None),
                ("POST", f"/deliveries/{sent}/redeliver", None),
            ]
            for method, tail, body in calls:
                response = await theirs.request(method, hook + tail, json=body)
                assert not_found(response), (method, tail, response.status_code, response.text)
                # The same answer as for an endpoint that does not exist: nothing tells them it does.
                absent = await theirs.request(method, missing + tail, json=body)
                assert absent.status_code == 404
                assert response.json()["detail"]["code"] == absent.json()["detail"]["code"]
            assert (await theirs.get("/v1/webhooks")).json() == {"webhooks": [], "count": 0}

        # Nothing of ours moved: same endpoint, same secret, no extra delivery queued.
        async with service.client(service.keys["test"]) as ours:
            read = (await ours.get(hook)).json()
            assert read["enabled"] and read["url"] == receiver.url and read["description"] == "ours"
            assert [d["id"] for d in await log_of(ours, endpoint["id"])] == [sent]
            again = await send_test(ours, endpoint["id"])
            await until(lambda: again in receiver.ids(), "a delivery signed with our unchanged secret")
            assert receiver.bad_signatures == 0
