"""Webhooks through crashes: two `tenantcore worker` processes share the outbox on PostgreSQL,
a receiver answers 500 for a while and slowly after, one worker is killed with SIGKILL in the
middle of deliveries and started again. Every event arrives (at least once per webhook-id,
signatures valid), the first arrivals of each domain come in order, nothing is lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from tenantcore.accounts.models import Account
from tenantcore.accounts.service import Caller
from tenantcore.config import Settings
from tenantcore.events.models import Event
from tenantcore.runtime import Runtime
from tenantcore.webhooks import service as webhooks
from tenantcore.webhooks.models import WebhookDelivery
from tenantcore.webhooks.schemas import CreateWebhook

from ..webhooks.receiver import receiving, until
from .processes import Process

EVENTS = 300
DOMAINS = 20
SETTINGS = {
    "sandbox": "false",
    "webhook_allow_private": "true",
    "webhook_backoff": "0.2",
    "webhook_poll": "0.1",
    "webhook_lease": "2",
    "worker_idle": "0.5",
}


def worker(data_dir: Path, database_url: str) -> Process:
    env = {"TENANTCORE_DATA_DIR": str(data_dir), "TENANTCORE_DATABASE_URL": database_url}
    env |= {f"TENANTCORE_{k.upper()}": v for k, v in SETTINGS.items()}
    return Process(["worker"], env)


async def delivery_statuses(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        rows = await session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
        return {status: count for status, count in rows}


async def test_a_worker_killed_mid_delivery_loses_nothing(tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=postgres_url, sandbox=False, webhook_allow_private=True)
    with receiving(fail_first=30, hang=0.05) as receiver:
        async with Runtime.opened(settings, bootstrap=True) as runtime:
            async with runtime.sessions() as session:
                account = await session.scalar(select(Account.id))
            caller = Caller(account, "live", "")
            receiver.secrets.append((await webhooks.create(runtime, caller, CreateWebhook(url=receiver.url))).secret)
            async with runtime.transaction() as session:
                session.add_all(
                    Event(
                        account_id=account,
                        mode="live",
                        tenant_id="t",
                        domain_name=f"d{i % DOMAINS:02d}.com",
                        type="domain.dns_changed",
                        message=str(i),
                        data={},
                    )
                    for i in range(EVENTS)
                )
            first, second = worker(data, postgres_url).start(), worker(data, postgres_url).start()
            try:
                await until(lambda: len(receiver.ids()) >= EVENTS // 3, "a third delivered", within=60)
                first.kill()  # mid-delivery: it holds leased deliveries, some in flight
                killed_with = len(receiver.ids())
                assert killed_with < EVENTS, "everything arrived before the kill: the test proves nothing"
                await asyncio.sleep(1.0)
                first.start()  # the restart
                await until(lambda: len(receiver.ids()) >= EVENTS, "everything delivered", within=120, fail=False)
                # The receiver has the last request before its worker records the 2xx: stopping the
                # workers now would leave that delivery pending (and it would be sent again later,
                # which is at-least-once working, not a loss). Wait for the outbox to say so too.
                statuses = await delivery_statuses(runtime)
                for _ in range(300):
                    if statuses.get("pending", 0) == 0:
                        break
                    await asyncio.sleep(0.1)
                    statuses = await delivery_statuses(runtime)
            finally:
                first.stop()
                second.stop()
            async with runtime.sessions() as session:
                rows = await session.execute(select(WebhookDelivery.id, WebhookDelivery.event_id))
                by_id = {delivery: event for delivery, event in rows}
    assert statuses == {"delivered": EVENTS}, statuses
    assert receiver.ids() == set(by_id), "every delivery arrived, and nothing else"
    assert receiver.bad_signatures == 0
    copies = Counter(r.id for r in receiver.received)
    print(f"\nwebhooks: {EVENTS} events, killed after {killed_with}; {sum(copies.values()) - EVENTS} sent twice")
    firsts: dict[str, list[int]] = {}
    seen: set[str] = set()
    for r in receiver.received:
        if r.id not in seen:
            seen.add(r.id)
            firsts.setdefault(r.domain or "", []).append(by_id[r.id] or 0)
    for domain, ids in firsts.items():
        assert ids == sorted(ids), f"{domain} out of order: {ids}"
