"""Zero-touch onboarding through a DNS provider: seconds from one bulk add until every domain is
DKIM-enabled, for 1 domain alone and for 12 at once, side by side.

    ./dev bench provider_onboarding_bench [--domains 1 12] [--latency 0.1] [--timeout 300]

Each run is fresh: its own knotd on a loopback port (RFC 2136 updates signed with TSIG, one
empty zone per domain) and the whole service in-process (`create_app` on a new SQLite data
dir, sandbox on the instant profile with `TENANTCORE_SANDBOX_LATENCY` added to every
Microsoft request, the sandbox DNS passing the zones' questions to knotd, the reconciler with
its defaults: `onboarding_poll` 5 s, `worker_idle` 2 s). The script creates a tenant, connects
knotd as an `rfc2136` provider and bulk-adds the domains through the API; the clock starts
with that request. From there it makes no API call (nothing it does moves onboarding): it
reads the database every 0.1 s until every domain has `dkim_enabled`, then reads the events
to show when the steps happened (records published, verified, DKIM enabled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tenantcore.app import create_app
from tenantcore.config import Settings
from tenantcore.db import create_engine, session_factory
from tenantcore.domains.models import Domain
from tenantcore.emulator import ThreadedServer
from tenantcore.events.models import Event
from tenantcore.runtime import Runtime
from tenantcore.sandbox.knot import KnotServer, empty_zones, running_knot

STEPS = ("domain.dns_applied", "domain.verified", "domain.dkim_enabled")


# --- one run ------------------------------------------------------------------------------


@dataclass
class Result:
    domains: int
    seconds: float  # bulk add sent → every domain DKIM-enabled
    bulk_seconds: float  # the bulk add request itself
    steps: dict[str, list[float]]  # event type → seconds after the start, one per domain
    checks: list[int]  # DNS checks each domain took


async def _dkim_enabled(session_maker, names: list[str]) -> int:
    async with session_maker() as session:
        statement = select(func.count()).where(Domain.name.in_(names), Domain.dkim_enabled.is_(True))
        return (await session.execute(statement)).scalar_one()


async def onboard(url: str, key: str, db_url: str, knot_: KnotServer, names: list[str], give_up_after: float) -> Result:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Bench"})).json()["tenant_id"]
        connect = {
            "name": "knot",
            "kind": "rfc2136",
            "config": {"server": "127.0.0.1", "port": knot_.port, "key_name": knot_.key_name},
            "credentials": {"key_secret": knot_.key_secret},
            "zone": names[0],
        }
        created = await api.post("/v1/dns-providers", json=connect)
        assert created.status_code == 201, created.text
        engine = create_engine(db_url)
        session_maker = session_factory(engine)
        try:
            started_at = datetime.now(UTC)
            started = time.monotonic()
            bulk = await api.post(f"/v1/tenants/{tenant}/domains/bulk", json={"domains": names})
            bulk_seconds = time.monotonic() - started
            assert bulk.status_code == 200 and bulk.json()["added"] == len(names), bulk.text
            assert {r["dns_provider"] for r in bulk.json()["results"]} == {"knot"}, bulk.text
            # From here no API call: only the reconciler moves the domains.
            while (done := await _dkim_enabled(session_maker, names)) < len(names):
                if time.monotonic() - started > give_up_after:
                    raise SystemExit(f"{done} of {len(names)} DKIM-enabled after {give_up_after:.0f} s")
                await asyncio.sleep(0.1)
            seconds = time.monotonic() - started
            async with session_maker() as session:
                events = (await session.scalars(select(Event).where(Event.type.in_(STEPS)))).all()
                checks = list((await session.scalars(select(Domain.check_count).where(Domain.name.in_(names)))).all())
        finally:
            await engine.dispose()
    steps: dict[str, list[float]] = {step: [] for step in STEPS}
    firsts: dict[tuple[str, str], float] = {}
    for e in events:
        at = (e.created_at - started_at).total_seconds()
        firsts[(e.type, e.domain_name)] = min(at, firsts.get((e.type, e.domain_name), at))
    for (kind, _), at in firsts.items():
        steps[kind].append(at)
    return Result(len(names), seconds, bulk_seconds, steps, checks)


def run(count: int, latency: float, timeout: float) -> Result:
    names = [f"pb{i:02d}.test" for i in range(1, count + 1)]
    with running_knot(empty_zones(names)) as server, tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            domain_limit=max(12, count),
            sandbox_profile="instant",
            sandbox_latency=latency,
            sandbox_dns_delegations={name: f"127.0.0.1:{server.port}" for name in names},
        )
        runtime = Runtime(settings)
        with contextlib.redirect_stdout(io.StringIO()):  # the first start's banner with the keys
            service = ThreadedServer(create_app(settings, runtime), lifespan="on").start()
        try:
            return asyncio.run(
                onboard(service.url, runtime.first_keys["test"], settings.db_url, server, names, timeout)
            )
        finally:
            service.stop()


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", type=int, nargs="+", default=[1, 12], help="a fresh run for each count")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every Microsoft request")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    defaults = Settings()
    print(
        f"\nBulk add → every domain DKIM-enabled, rfc2136 on knotd, Microsoft latency {args.latency:g} s, "
        f"onboarding_poll {defaults.onboarding_poll:g} s, worker_idle {defaults.worker_idle:g} s\n",
        flush=True,
    )
    results = [run(count, args.latency, args.timeout) for count in args.domains]
    width = 22
    rows = [
        ("domains", lambda r: str(r.domains)),
        ("all DKIM-enabled, s", lambda r: f"{r.seconds:.1f}"),
        ("bulk add request, s", lambda r: f"{r.bulk_seconds:.2f}"),
        ("records published, s *", lambda r: _spread(r.steps["domain.dns_applied"])),
        ("verified, s *", lambda r: _spread(r.steps["domain.verified"])),
        ("DKIM enabled, s *", lambda r: _spread(r.steps["domain.dkim_enabled"])),
        ("DNS checks per domain", lambda r: _spread([float(c) for c in r.checks]).replace(".0", "")),
    ]
    print(f"{'':<24}" + "".join(f"{f'{r.domains} domain(s)':>{width}}" for r in results))
    for label, cell in rows[1:]:
        print(f"{label:<24}" + "".join(f"{cell(r):>{width}}" for r in results))
    print("* seconds after the bulk add was sent, min / median / max over the domains (from the events)")
    if len(results) >= 2:
        one, many = results[0], results[-1]
        ratio = many.seconds / one.seconds
        print(
            f"\n{many.domains} take {ratio:.2f}x the time of {one.domains} "
            f"(target ≤ 3x: {'met' if ratio <= 3 else 'missed'}); "
            f"{many.domains} in {many.seconds:.1f} s (target < 30 s: {'met' if many.seconds < 30 else 'missed'})"
        )


if __name__ == "__main__":
    main()
