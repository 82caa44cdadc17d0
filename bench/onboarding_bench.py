"""Time to DKIM-enabled for 12 domains through the whole service, on the emulator's instant
profile and on its realistic one (Microsoft's lags, asynchronous DKIM keys, pre-existing
configs, names as in the wild), side by side.

    ./dev bench onboarding_bench [--domains 12] [--profile instant realistic] [--lag-scale 1.0]

`tenantcore serve`'s app runs in-process (sandbox, SQLite, the reconciler with a 1 s check
interval). The domains are added at once through the API; from there only the reconciler
acts, while a script republishes into the sandbox DNS what TenantCore lists every second (as
an operator without a DNS provider would). The clock stops when every domain's dkim-status
says `enabled`. `--lag-scale` multiplies the realistic profile's delays (1.0: its defaults,
seconds to tens of seconds, as Microsoft's first hour feels).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

import httpx

from tenantcore.app import create_app
from tenantcore.config import Settings
from tenantcore.emulator import EmulatorProfile, ThreadedServer
from tenantcore.runtime import Runtime

LAG_KNOBS = ("replication_lag", "consent_lag", "exchange_role_lag", "accepted_lag", "dkim_key_delay", "cname_sync_lag")


async def onboard(url: str, key: str, count: int, give_up_after: float) -> float:
    names = [f"b{i:02d}.acme-corp.com" for i in range(count)]
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Bench"})).json()["tenant_id"]
        base = f"/v1/tenants/{tenant}/domains"
        start = time.monotonic()
        added = await asyncio.gather(*(api.post(base, json={"domain": n}) for n in names))
        assert all(r.status_code == 201 for r in added), [r.text for r in added if r.status_code != 201]

        async def republish() -> None:
            while True:
                for name in names:
                    await api.post(f"{base}/{name}/dns/publish")
                await asyncio.sleep(1.0)

        publisher = asyncio.create_task(republish())
        try:
            while True:
                states = [(await api.get(f"{base}/{n}/dkim-status")).json()["dkim_status"] for n in names]
                if all(s == "enabled" for s in states):
                    return time.monotonic() - start
                if time.monotonic() - start > give_up_after:
                    events = (await api.get("/v1/events", params={"limit": 20})).json()["events"]
                    seen = [e["type"] for e in events]
                    raise SystemExit(f"not all enabled after {give_up_after} s: {states}; newest events: {seen}")
                await asyncio.sleep(0.5)
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher


def run(profile: str, count: int, lag_scale: float, timeout: float) -> float:
    knobs: dict[str, object] = {}
    if profile == "realistic":
        defaults = EmulatorProfile.realistic()
        knobs = {f"sandbox_{k}": getattr(defaults, k) * lag_scale for k in LAG_KNOBS}
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            sandbox_profile=profile,
            check_interval=1.0,
            worker_idle=0.2,
            followup_backoff=1.0,
            exchange_probe_interval=2.0,
            **knobs,
        )
        runtime = Runtime(settings)
        server = ThreadedServer(create_app(settings, runtime), lifespan="on").start()
        try:
            return asyncio.run(onboard(server.url, runtime.first_keys["test"], count, timeout))
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", type=int, default=12)
    parser.add_argument("--profile", nargs="+", default=["instant", "realistic"], choices=["instant", "realistic"])
    parser.add_argument("--lag-scale", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    print(f"\n{args.domains} domains from bulk add to DKIM enabled, the reconciler alone (check interval 1 s)\n")
    print(f"{'profile':>10}  {'seconds':>8}")
    for profile in args.profile:
        print(f"{profile:>10}  {run(profile, args.domains, args.lag_scale, args.timeout):8.1f}", flush=True)


if __name__ == "__main__":
    main()
