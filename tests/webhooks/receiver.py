"""A real webhook receiver on loopback HTTP: verifies every request's Standard Webhooks
signature with the `standardwebhooks` package (as a customer's receiver would), remembers
what arrived, and misbehaves on demand (answers 500 for a while, hangs, says 410)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantcore.emulator import ThreadedServer


@dataclass
class Received:
    id: str
    type: str
    domain: str | None
    event_id: int | None
    at: float


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)  # any may verify (a rotation's overlap)
    fail_first: int = 0  # answer 500 to this many requests first
    hang: float = 0.0  # seconds to sit on each request before answering
    status: int = 200
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    bad_signatures: int = 0
    signatures_seen: list[int] = field(default_factory=list)  # how many v1 signatures each request had
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.requests += 1
            failing = self.requests <= self.fail_first
        if self.hang:
            await asyncio.sleep(self.hang)
        headers = dict(request.headers)
        payload = None
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        if payload is None:
            with self.lock:
                self.bad_signatures += 1
            return Response(status_code=401)
        if failing:
            return Response(status_code=500)
        if self.status != 200:
            return Response(status_code=self.status)
        data = payload.get("data", {})
        with self.lock:
            self.signatures_seen.append(len(headers["webhook-signature"].split()))
            self.received.append(
                Received(
                    headers["webhook-id"], payload["type"], data.get("domain_name"), data.get("event_id"), time.time()
                )
            )
        return Response(status_code=204)

    def ids(self) -> set[str]:
        with self.lock:
            return {r.id for r in self.received}


@contextmanager
def receiving(**options: object) -> Iterator[Receiver]:
    receiver = Receiver(**options)  # type: ignore[arg-type]
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    server = ThreadedServer(app).start()
    receiver.url = f"{server.url}/hook"
    try:
        yield receiver
    finally:
        server.stop()


async def until(probe: Callable[[], object], what: str, within: float = 30.0, fail: bool = True) -> bool:
    """Poll `probe` until it holds; False (or an AssertionError naming `what`) when it never does."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if probe():
            return True
        await asyncio.sleep(0.05)
    if fail:
        raise AssertionError(f"not within {within:.0f} s: {what}")
    return False
