"""One full check cycle of many domains in PostgreSQL, zones served by Knot on loopback, with
1 and with 2 `tenantcore worker` processes.

    ./dev bench worker_bench [--domains 100000] [--workers 1 2] [--storm]

Needs the PostgreSQL server on 127.0.0.1:5432 (trust auth); the script creates and drops its
own database. Every domain is live, verified and DKIM-enabled (no follow-ups), and due; the
cycle ends when each has been checked once. The script checks that none was checked twice.
Each cycle starts as a first check (no grade: no health transition); `--storm` starts every
domain graded ok instead, so each seeded faulty domain (4 in 10) makes a grade transition: the
worst case of the health history's writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, insert, select, update

from tenantcore.accounts.models import Account
from tenantcore.db import create_engine, now, session_factory
from tenantcore.domains.models import Domain
from tenantcore.migrate import upgrade
from tenantcore.tenants.models import Tenant
from zones import FAULTS, domain_name, graph_records, knot

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "tc_worker_bench"
URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}"


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def seed(count: int) -> None:
    engine = create_engine(URL)
    sessions = session_factory(engine)
    account_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with sessions() as session:
        await session.execute(insert(Account).values(id=account_id, name="bench"))
        await session.execute(
            insert(Tenant).values(
                id=tenant_id,
                account_id=account_id,
                mode="live",
                ms_tenant_id=str(uuid.uuid4()),
                tenant_name="Bench",
                tenant_domain="bench.onmicrosoft.com",
            )
        )
        for start in range(0, count, 5000):
            rows = []
            for i in range(start, min(count, start + 5000)):
                g = graph_records(i)
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": tenant_id,
                        "account_id": account_id,
                        "mode": "live",
                        "name": domain_name(i),
                        "state": "dkim_enabled",
                        "is_verified": True,
                        "dkim_enabled": True,
                        "verification_records": g["verification"],
                        "service_records": g["service"],
                        "dkim_config": g["dkim_config"],
                        "records_read_at": now(),
                    }
                )
            await session.execute(insert(Domain), rows)
        await session.commit()
    await engine.dispose()


async def reset_and_watch(count: int, start_workers, storm: bool = False) -> tuple[float, dict[str, int]]:
    engine = create_engine(URL)
    sessions = session_factory(engine)
    async with sessions() as session:
        await session.execute(
            update(Domain).values(
                next_check_at=now() - timedelta(seconds=1),
                check_count=0,
                lease_owner=None,
                lease_until=None,
                grade="ok" if storm else None,
                fingerprint=None,
                **({"health": None} if storm else {}),  # storm: every trouble is new, as "broke"
            )
        )
        await session.commit()
    procs = start_workers()
    started = time.perf_counter()
    try:
        while True:
            async with sessions() as session:
                done = await session.scalar(select(func.count()).where(Domain.check_count >= 1))
            if done >= count:
                break
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"cycle not finished after 30 min ({done}/{count})")
            await asyncio.sleep(1.0)  # counting 100k rows is not free: poll gently
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    async with sessions() as session:
        counts = dict(
            (await session.execute(select(Domain.check_count, func.count()).group_by(Domain.check_count))).all()
        )
        grades = dict((await session.execute(select(Domain.grade, func.count()).group_by(Domain.grade))).all())
    await engine.dispose()
    return elapsed, {"check_counts": counts, "grades": grades}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--storm", action="store_true", help="start each cycle graded ok: 40%% transitions")
    args = parser.parse_args()
    n = args.domains
    tenantcore = str(Path(sys.executable).parent / "tenantcore")
    print(f"generating {n} zones and starting knotd ...", flush=True)
    t0 = time.perf_counter()
    with knot(n, workers=1) as port:
        print(f"knotd up in {time.perf_counter() - t0:.0f} s; seeding PostgreSQL ...", flush=True)
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        asyncio.run(admin(f"CREATE DATABASE {DB}"))
        upgrade(URL)
        asyncio.run(seed(n))
        env = {
            **os.environ,
            "TENANTCORE_DATABASE_URL": URL,
            "TENANTCORE_DNS_NAMESERVERS": f'["127.0.0.1:{port}"]',
            "TENANTCORE_WORKER_BATCH": str(args.batch),
            "TENANTCORE_CHECK_INTERVAL": "86400",
            "TENANTCORE_WORKER_IDLE": "0.2",
            "TENANTCORE_DATA_DIR": "/tmp/tc-worker-bench",
        }
        results = []
        for workers in args.workers:

            def start(k: int = workers) -> list[subprocess.Popen[bytes]]:
                return [
                    subprocess.Popen(
                        [tenantcore, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    for _ in range(k)
                ]

            elapsed, seen = asyncio.run(reset_and_watch(n, start, args.storm))
            results.append((workers, elapsed, seen))
            print(f"{workers} worker(s): {elapsed:.1f} s, {n / elapsed:,.0f} domains/s, {seen}", flush=True)
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
    faulty = sum(1 for i in range(n) if i % 10 in FAULTS)
    print(f"\none full check cycle of {n:,} domains (PostgreSQL + Knot on loopback, 2 cores)\n")
    print(f"{'workers':>8}{'seconds':>10}{'domains/s':>12}   each domain checked exactly once")
    for workers, elapsed, seen in results:
        exact = seen["check_counts"] == {1: n}
        print(f"{workers:>8}{elapsed:>10.1f}{n / elapsed:>12,.0f}   {'yes' if exact else seen['check_counts']}")
    print(
        f"\nseeded faulty domains: {faulty:,}; graded error in the last cycle: "
        f"{results[-1][2]['grades'].get('error', 0):,}"
    )


if __name__ == "__main__":
    main()
