"""The webhook outbox: events fanned out into deliveries (in the transaction that marks them
dispatched, so each event becomes exactly one delivery per endpoint), then delivered by any
worker holding a lease: at least once, in order per domain and endpoint, retried with
exponential backoff and jitter until `webhook_retry_for` has passed. 2xx is delivered; 410
disables the endpoint; an endpoint failing for `webhook_disable_after` with no success is
disabled with an event. Deliveries to one endpoint never wait on another's: each endpoint has
its own bound on deliveries in flight, and a slow receiver holds only those."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore import netguard
from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.events.models import Event
from tenantcore.events.service import event
from tenantcore.metrics.registry import WEBHOOK_ATTEMPTS
from tenantcore.runtime import Runtime
from tenantcore.webhooks import repository, signing, targets
from tenantcore.webhooks.credentials import still_signing, unseal
from tenantcore.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

BACKOFF_CAP = 6 * 3600.0
DISPATCH_BATCH = 500
DISPATCH_LOCK = 0x7C0DE  # the PostgreSQL advisory lock only the dispatcher takes
CLAIM_BATCH = 200
MAX_HELD = 1000  # deliveries one worker holds at once (sending or waiting for their endpoint)


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def payload_of(row: Event) -> dict[str, Any]:
    """What a receiver gets: the event as the events API shows it, under Standard Webhooks'
    `type` / `timestamp` / `data` envelope."""
    return {
        "type": row.type,
        "timestamp": row.created_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "event_id": row.id,
            "tenant_id": row.tenant_id or None,
            "domain_name": row.domain_name or None,
            "message": row.message,
            "details": row.data or {},
        },
    }


def wants(endpoint: WebhookEndpoint, type_: str) -> bool:
    return not endpoint.event_types or type_ in endpoint.event_types


def order_key(row: Event) -> str:
    return f"{row.tenant_id}/{row.domain_name}" if row.domain_name else f"{row.tenant_id}/"


def delivery(endpoint_id: str, type_: str, key: str, payload: dict[str, Any], event_id: int | None) -> WebhookDelivery:
    at = now()
    return WebhookDelivery(
        id=message_id(),
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=type_,
        order_key=key,
        payload=payload,
        status="pending",
        attempts=0,
        retry_attempts=0,
        next_attempt_at=at,
        retry_since=at,
        created_at=at,
    )


async def dispatch(session: AsyncSession, batch: int = DISPATCH_BATCH) -> int:
    """Fan out one batch of events into deliveries; returns how many events it took."""
    if session.bind.dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE: take its write lock before reading, so two dispatchers
        # never fan out the same events.
        await session.execute(update(Event).where(Event.id == -1).values(dispatched=True))
    elif not await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK}):
        # One dispatcher at a time: two fanning out disjoint batches at once could give a
        # domain's later event a smaller delivery number than its earlier one (order per domain).
        return 0
    rows = await repository.undispatched(session, batch)
    if not rows:
        return 0
    endpoints = await repository.enabled_endpoints(session, {(r.account_id, r.mode) for r in rows})
    for row in rows:
        for endpoint in endpoints:
            if (endpoint.account_id, endpoint.mode) == (row.account_id, row.mode) and wants(endpoint, row.type):
                session.add(delivery(endpoint.id, row.type, order_key(row), payload_of(row), row.id))
    await repository.mark_dispatched(session, [r.id for r in rows])
    return len(rows)


def backoff(settings: Settings, attempts: int) -> float:
    # The doublings are bounded (a float power, never an int one): past ~1,024 attempts (a
    # retry window of months at the cap) 2 ** n no longer converts to a float and raised, so
    # the outcome was never recorded and the delivery was re-sent every lease, for ever.
    doublings = min(max(0, attempts - 1), 1000)
    base = min(BACKOFF_CAP, settings.webhook_backoff * 2.0**doublings)
    return base * random.uniform(0.75, 1.25)  # jitter: a receiver coming back is not hit by a wave


@dataclass
class Outcome:
    status: int | None
    latency_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """One worker's delivery side. Each claimed delivery is sent by its own task, so a claim
    never waits for the previous batch: a receiver that hangs holds its own deliveries (at
    most `webhook_concurrency` in flight, a few more waiting) and nothing else. Leases of
    everything held are renewed while it is held; a worker that dies gives them back."""

    def __init__(self, runtime: Runtime, owner: str) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.owner = f"{owner}:webhooks"
        self._client: httpx.AsyncClient | None = None
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._held: dict[int, str] = {}  # delivery seq → endpoint id, while its task runs
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.webhook_timeout),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._client

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()  # unfinished deliveries keep their lease until it runs out: sent again
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def _saturated(self) -> list[str]:
        """Endpoints this worker holds enough of: claims leave their deliveries to others."""
        per_endpoint: dict[str, int] = {}
        for endpoint_id in self._held.values():
            per_endpoint[endpoint_id] = per_endpoint.get(endpoint_id, 0) + 1
        cap = self.settings.webhook_concurrency * 2
        return [e for e, n in per_endpoint.items() if n >= cap]

    async def run_once(self) -> int:
        """Fan out what is new, claim what is due and start sending it; returns how many
        deliveries it started (0: nothing to do for now)."""
        for _ in range(20):  # a backlog goes out in batches, each its own short transaction
            async with self.runtime.transaction() as session:
                if not await dispatch(session):
                    break
        room = MAX_HELD - len(self._held)
        if room <= 0:
            return 0
        async with self.runtime.transaction() as session:
            seqs = await repository.claim(
                session, self.owner, min(room, CLAIM_BATCH), self.settings.webhook_lease, self._saturated()
            )
        if not seqs:
            return 0
        async with self.runtime.sessions() as session:
            batch = await repository.claimed(session, self.owner, seqs)
        for row, endpoint in batch:
            self._held[row.seq] = endpoint.id
            task = asyncio.create_task(self._send(row, endpoint))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(batch)

    async def renew(self) -> None:
        if self._held:
            async with self.runtime.transaction() as session:
                await repository.renew(session, self.owner, list(self._held), self.settings.webhook_lease)

    async def idle(self) -> None:
        """Wait for every delivery started to finish (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _limit(self, endpoint_id: str) -> asyncio.Semaphore:
        limit = self._limits.get(endpoint_id)
        if limit is None:
            limit = self._limits[endpoint_id] = asyncio.Semaphore(self.settings.webhook_concurrency)
        return limit

    async def _send(self, row: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
        try:
            async with self._limit(endpoint.id):
                try:
                    outcome = await self._post(row, endpoint)
                except Exception as exc:
                    # Anything unforeseen while preparing or sending (a URL the client refuses, a
                    # secret that no longer unseals) is a failed attempt like any other: counted,
                    # retried with backoff, failed after the retry window, the endpoint disabled
                    # in the end. Left to the lease, it would be sent again forever, uncounted,
                    # holding up its domain's later deliveries.
                    log.exception("webhook delivery %s failed unexpectedly", row.id)
                    outcome = Outcome(None, 0, f"could not send: {type(exc).__name__}: {exc}")
            await self._record(row, endpoint, outcome)
        except Exception:  # recording failed (the database): the lease runs out, it is sent again
            log.exception("webhook delivery %s: could not record the attempt", row.id)
        finally:
            self._held.pop(row.seq, None)

    def _secrets(self, endpoint: WebhookEndpoint) -> list[str]:
        replaced = still_signing(endpoint.previous_secrets, now())
        return [unseal(self.runtime.secret, s) for s in (endpoint.secret, *(p["secret"] for p in replaced))]

    async def _post(self, row: WebhookDelivery, endpoint: WebhookEndpoint) -> Outcome:
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True)
        started = time.perf_counter()
        rule = targets.policy(self.settings, endpoint.mode)
        resolved = False
        try:
            host, port = targets.parse(endpoint.url)
            # The whole exchange is bounded, the name's lookup included, and the receiver's
            # body is never read: a name whose servers never answer, or a reply that trickles
            # or never ends, holds nothing but this delivery, for that long.
            async with asyncio.timeout(self.settings.webhook_timeout):
                address = await netguard.checked_address(host, rule)
                resolved = True
                # Sent to the address just checked (a DNS answer that changed since cannot
                # steer it elsewhere), with the name in Host and in TLS (SNI, certificate).
                parts = urlsplit(endpoint.url)
                literal = f"[{address}]" if ":" in address else address
                target = urlunsplit(parts._replace(netloc=f"{literal}:{port}"))
                headers = signing.headers(row.id, body, self._secrets(endpoint)) | {"host": parts.netloc}
                async with self.client.stream(
                    "POST", target, content=body.encode(), headers=headers, extensions={"sni_hostname": host}
                ) as response:
                    status = response.status_code
        except (targets.TargetRefused, netguard.AddressRefused) as exc:
            return Outcome(None, 0, f"refused: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            limit = f"{self.settings.webhook_timeout:g} s"
            what = f"no answer within {limit}" if resolved else f"the host name did not resolve within {limit}"
            return Outcome(None, _ms(started), what)
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), f"{type(exc).__name__}: {exc}")
        return Outcome(status, _ms(started), None)

    async def _record(self, row: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome) -> None:
        at = now()
        in_round = row.retry_attempts + 1  # the backoff grows with this round's attempts only
        error = _printable(outcome.error)
        values: dict[str, object] = {
            "attempts": row.attempts + 1,
            "retry_attempts": in_round,
            "last_status": outcome.status,
            "last_error": error,
            "last_latency_ms": outcome.latency_ms,
        }
        gone = outcome.status == 410
        if outcome.delivered:
            values |= {"status": "delivered", "delivered_at": at}
        elif gone or (at - (row.retry_since or row.created_at)).total_seconds() >= self.settings.webhook_retry_for:
            values |= {"status": "failed"}
        else:
            values |= {"next_attempt_at": at + timedelta(seconds=backoff(self.settings, in_round))}
        WEBHOOK_ATTEMPTS.labels(str(values.get("status", "retry"))).inc()
        attempt = WebhookAttempt(
            delivery_seq=row.seq,
            attempted_at=at,
            status_code=outcome.status,
            latency_ms=outcome.latency_ms,
            error=error,
        )
        async with self.runtime.transaction() as session:
            if not await repository.finish(session, self.owner, row.seq, values, attempt):
                session.expunge(attempt)
                return  # our lease ran out and another worker took the delivery over
            if outcome.delivered:
                self.sent += 1
                await repository.endpoint_succeeded(session, endpoint.id)
                return
            if gone:
                await self._disable(session, endpoint, "the receiver answered 410 Gone")
                return
            fresh = await repository.endpoint_failed(session, endpoint.id, at)
            failing_for = (at - fresh.failing_since).total_seconds() if fresh and fresh.failing_since else 0.0
            if failing_for >= self.settings.webhook_disable_after:
                days = failing_for / 86400
                await self._disable(session, endpoint, f"every delivery failed for {days:.1f} days")

    async def _disable(self, session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
        if await repository.disable(session, endpoint.id, reason):
            log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
            session.add(
                event(
                    endpoint.account_id,
                    endpoint.mode,
                    "",
                    "",
                    "webhook.endpoint_disabled",
                    # The id and host only: a URL may carry a token, and events go to other endpoints.
                    f"Webhook endpoint {endpoint.id} ({urlsplit(endpoint.url).hostname}) disabled: {reason}. "
                    "Fix the receiver and enable it again.",
                    {"endpoint_id": endpoint.id, "reason": reason},
                )
            )


def _printable(error: str | None) -> str | None:
    """An error text fit for the log column: control characters escaped (PostgreSQL refuses
    NUL in text) and cut to the column's size."""
    if error is None:
        return None
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in error)[:500]


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
