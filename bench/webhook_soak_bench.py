"""Webhook soak: 1,000 events to 3 endpoints (one flaky, one slow, one down) delivered by two
`tenantcore worker` processes sharing the outbox on PostgreSQL. Prints, per endpoint, what
arrived (distinct webhook-ids and copies: exactly once is the goal for the ones that are up)
and the delivery latency from the event being recorded to the receiver having it, p50/p99.

    ./dev bench webhook_soak_bench [--events 1000] [--flaky 0.3] [--slow 0.3]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth), as the test machines have. The receivers
verify every Standard Webhooks signature with the `standardwebhooks` package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tenantcore.accounts.models import Account
from tenantcore.accounts.service import Caller
from tenantcore.config import Settings
from tenantcore.emulator import ThreadedServer
from tenantcore.events.models import Event
from tenantcore.runtime import Runtime
from tenantcore.webhooks import service as webhooks
from tenantcore.webhooks.models import WebhookDelivery
from tenantcore.webhooks.schemas import CreateWebhook

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Endpoint:
    name: str
    fail_ratio: float = 0.0
    delay: float = 0.0
    secret: str = ""
    copies: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    bad: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        if random.random() < self.fail_ratio:
            return Response(status_code=500)
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            with self.lock:
                self.bad += 1
            return Response(status_code=401)
        created = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).timestamp()
        with self.lock:
            first = request.headers["webhook-id"] not in self.copies
            self.copies[request.headers["webhook-id"]] += 1
            if first:
                self.latencies.append(time.time() - created)
        return Response(status_code=204)


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(done: Callable[[], bool], within: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while True:
                if done():
                    return
                await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--flaky", type=float, default=0.3, help="share of requests the flaky receiver fails")
    parser.add_argument("--slow", type=float, default=0.3, help="seconds the slow receiver takes per request")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    database = f"tc_soak_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f"CREATE DATABASE {database}")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    flaky, slow = Endpoint("flaky", fail_ratio=args.flaky), Endpoint("slow", delay=args.slow)
    servers = []
    for endpoint in (flaky, slow):
        app = Starlette(routes=[Route("/hook", endpoint.handle, methods=["POST"])])
        servers.append(ThreadedServer(app).start())
    urls = [f"{servers[0].url}/hook", f"{servers[1].url}/hook", f"http://127.0.0.1:{closed_port()}/hook"]
    workers: list[asyncio.subprocess.Process] = []
    try:
        with tempfile.TemporaryDirectory() as data:
            settings = Settings(data_dir=Path(data), database_url=url, sandbox=False, webhook_allow_private=True)
            async with Runtime.opened(settings, bootstrap=True) as runtime:
                async with runtime.sessions() as session:
                    account = await session.scalar(select(Account.id))
                caller = Caller(account, "live", "")
                for endpoint, target in zip((flaky, slow, None), urls, strict=True):
                    made = await webhooks.create(runtime, caller, CreateWebhook(url=target))
                    if endpoint is not None:
                        endpoint.secret = made.secret
                    else:
                        down_id = made.id
                env = {
                    **os.environ,
                    "TENANTCORE_DATA_DIR": data,
                    "TENANTCORE_DATABASE_URL": url,
                    "TENANTCORE_SANDBOX": "false",
                    "TENANTCORE_WEBHOOK_ALLOW_PRIVATE": "true",
                }
                command = [str(Path(sys.executable).parent / "tenantcore"), "worker"]
                workers = [
                    await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.DEVNULL)
                    for _ in range(2)
                ]
                await asyncio.sleep(2.0)  # both up and idle before the first event
                started = time.monotonic()
                for start in range(0, args.events, 100):  # events arrive in bursts, as a reconciler batch writes them
                    async with runtime.transaction() as session:
                        session.add_all(
                            Event(
                                account_id=account,
                                mode="live",
                                tenant_id="soak",
                                domain_name=f"d{i % 120:03d}.com",
                                type="domain.dns_changed",
                                message=str(i),
                                data={},
                            )
                            for i in range(start, min(args.events, start + 100))
                        )
                await until(lambda: min(len(flaky.copies), len(slow.copies)) >= args.events, args.timeout)
                elapsed = time.monotonic() - started
                await asyncio.sleep(2.0)  # a late duplicate, were there one, would arrive meanwhile
                async with runtime.sessions() as session:  # what the outbox holds for the dead endpoint
                    down = (
                        await session.execute(
                            select(WebhookDelivery.status, WebhookDelivery.attempts).where(
                                WebhookDelivery.endpoint_id == down_id
                            )
                        )
                    ).all()
    finally:
        for proc in workers:
            proc.terminate()
            await proc.wait()
        for server in servers:
            server.stop()
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.close()

    print(f"\n{args.events} events → 3 endpoints, 2 worker processes on PostgreSQL, {elapsed:.1f} s\n")
    print(f"{'endpoint':<8} {'distinct':>8} {'copies':>7} {'bad sig':>7} {'p50 s':>7} {'p99 s':>7}")
    for endpoint in (flaky, slow):
        print(
            f"{endpoint.name:<8} {len(endpoint.copies):>8} {sum(endpoint.copies.values()):>7} {endpoint.bad:>7} "
            f"{statistics.median(endpoint.latencies) if endpoint.latencies else float('nan'):>7.2f} "
            f"{percentile(endpoint.latencies, 0.99):>7.2f}"
        )
    states = Counter(status for status, _ in down)
    tried = [attempts for _, attempts in down]
    print(
        f"{'down':<8} {'0':>8}   connection refused: {dict(states)} in the outbox, "
        f"attempts so far {min(tried, default=0)}-{max(tried, default=0)} (retried with backoff for 3 days)"
    )
    # The soak's claim, checked rather than read off the table: every event reached each endpoint
    # that was up exactly once, signed right, and the dead one's are kept for their retries.
    problems = [
        f"{e.name}: {len(e.copies)} distinct, {sum(e.copies.values())} copies, {e.bad} bad signatures"
        for e in (flaky, slow)
        if len(e.copies) != args.events or sum(e.copies.values()) != args.events or e.bad
    ]
    if states != Counter({"pending": args.events}):
        problems.append(f"down: {dict(states)} (want {args.events} pending)")
    if problems:
        sys.exit("NOT exactly once: " + "; ".join(problems))


if __name__ == "__main__":
    asyncio.run(main())
