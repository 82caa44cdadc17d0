"""Two `tenantcore serve` processes on one PostgreSQL draw from one bucket per key: hammered
together, they let through no more than the bucket holds, not twice that."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter

import httpx

from tests.chaos.processes import Serve

RATE, BURST, SECONDS = 20, 20, 3.0
LEASE_TTL = 1.0  # tenantcore.ratelimit.buckets: unspent tokens of a batch lapse after this


async def test_two_processes_share_one_bucket_per_key(tmp_path, postgres_url):
    settings = {
        "secret_key": secrets.token_hex(16),  # one secret: the same keys on both
        "rate_limit": RATE,
        "rate_limit_burst": BURST,
        "worker": "false",
    }
    first = Serve(tmp_path / "one", postgres_url, **settings).start()
    second = None
    try:
        first.wait_ready()
        key = first.find(r"test: (tc_test_\w+)")
        second = Serve(tmp_path / "two", postgres_url, **settings).start()
        second.wait_ready()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            for serve in (first, second):  # each process learns the key is good
                assert (await client.get(f"{serve.url}/v1/tenants")).status_code == 200
            counts: Counter[tuple[str, int]] = Counter()
            deadline = time.monotonic() + SECONDS

            async def hammer(url: str) -> None:
                while time.monotonic() < deadline:
                    counts[url, (await client.get(f"{url}/v1/tenants")).status_code] += 1

            started = time.monotonic()
            await asyncio.gather(*(hammer(serve.url) for serve in (first, second) for _ in range(6)))
            elapsed = time.monotonic() - started
        ok = sum(n for (_, status), n in counts.items() if status == 200)
        assert set(status for _, status in counts) == {200, 429}, counts
        # Both processes served and refused; together within one bucket (a process alone at
        # this rate would be allowed BURST + RATE * elapsed).
        for serve in (first, second):
            assert counts[serve.url, 200] > 0 and counts[serve.url, 429] > 0, counts
        assert ok <= BURST + RATE * (elapsed + LEASE_TTL), (ok, counts)
        assert ok >= RATE * elapsed * 0.5, (ok, counts)  # and the limit is not far below what it says
    finally:
        for serve in (first, second):
            if serve is not None:
                serve.stop()
