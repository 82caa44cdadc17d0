"""The app's pages with 500 tenants x 12 domains (6,000 domains, SQLite): server time of the
pages an operator opens, signed in through the real login form.

    ./dev bench app_bench [--tenants 500] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from tenantcore.accounts.models import ApiKey
from tenantcore.db import create_engine, now, session_factory
from tenantcore.domains.models import Domain
from tenantcore.models import load_all
from tenantcore.tenants.models import Tenant

GRADES = ["ok"] * 8 + ["warning", "error", "unknown", "ok"]
# The next action a check leaves with each grade (tenantcore.domains.progress), and its count.
ACTIONS = {"ok": ("healthy", 0), "warning": ("fix_dns", 1), "error": ("publish_records", 5), "unknown": ("recheck", 0)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(db_url: str, tenants: int) -> str:
    load_all()  # every table, so the foreign keys (dns_providers) resolve
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with sessions() as session:
        key = (await session.scalars(select(ApiKey).where(ApiKey.mode == "live"))).first()
        assert key is not None
        first = None
        for t in range(tenants):
            tenant_id = str(uuid.uuid4())
            ms_id = str(uuid.uuid4())
            first = first or ms_id
            await session.execute(
                insert(Tenant).values(
                    id=tenant_id,
                    account_id=key.account_id,
                    mode="live",
                    ms_tenant_id=ms_id,
                    tenant_name=f"Client {t:03d}",
                    tenant_domain=f"client{t:03d}.onmicrosoft.com",
                )
            )
            await session.execute(
                insert(Domain),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": tenant_id,
                        "account_id": key.account_id,
                        "mode": "live",
                        "name": f"d{i:02d}.client{t:03d}.com",
                        "state": "dkim_enabled",
                        "is_verified": True,
                        "dkim_enabled": True,
                        "grade": grade,
                        "next_action": ACTIONS[grade][0],
                        "action_count": ACTIONS[grade][1],
                        "spf_status": "v=spf1 -all",
                        "dkim_status": "healthy",
                        "dmarc_status": "v=DMARC1; p=reject",
                        "mx_status": "x.mx.microsoft.",
                        "last_checked": now(),
                    }
                    for i, grade in ((i, random.choice(GRADES)) for i in range(12))
                ],
            )
        await session.commit()
    await engine.dispose()
    return first or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tc-appbench-"))
    port = free_port()
    env = {**os.environ, "TENANTCORE_DATA_DIR": str(work), "TENANTCORE_PORT": str(port), "TENANTCORE_WORKER": "false"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "tenantcore"), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        key = ""
        while not key:
            line = server.stdout.readline()
            if "live: tc_live_" in line:
                key = line.split()[1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/app/login", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        tenant = asyncio.run(seed(f"sqlite+aiosqlite:///{work / 'tenantcore.db'}", args.tenants))
        client = httpx.Client(base_url=base, timeout=30)
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
        assert client.post("/app/login", data={"csrf": csrf, "api_key": key}).status_code in (200, 303)
        pages = {
            "fleet (500 tenants)": "/app",
            "fleet sorted by work waiting": "/app?sort=todo&desc=1",
            "fleet searched": "/app?q=client 42",
            "problems (all tenants, page 1)": "/app/problems",
            "problems page 20, by grade": "/app/problems?sort=grade&page=20",
            "problems of one tenant": f"/app/problems?tenant={tenant}",
            "problems searched": "/app/problems?q=d03.client1",
            "tenant (12 domains)": f"/app/tenants/{tenant}",
            "domain": f"/app/tenants/{tenant}/domains/d00.client000.com",
            "events": "/app/events",
        }
        rows = []
        for name, path in pages.items():
            assert client.get(path).status_code == 200, path
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            rows.append(
                (name, statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1], len(response.content))
            )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    print(f"\n{args.tenants} tenants x 12 domains, SQLite, {args.requests} sequential requests per page\n")
    print(f"{'page':34}{'p50 ms':>9}{'p95 ms':>9}{'KiB':>8}")
    for name, p50, p95, size in rows:
        print(f"{name:34}{p50:>9.1f}{p95:>9.1f}{size / 1024:>8.0f}")


if __name__ == "__main__":
    main()
