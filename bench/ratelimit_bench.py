"""What the rate-limit middleware costs per request, beside the same ASGI call without it.

Calls the ASGI stack directly (no server, no sockets): an app that answers 200 at once, alone
and behind `RateLimitMiddleware`, for the paths a request can take. PostgreSQL (shared
buckets) is measured when a server listens on 127.0.0.1:5432 (a scratch database is made and
dropped). Run: `./dev bench ratelimit_bench`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tenantcore.config import Settings
from tenantcore.ratelimit.middleware import RateLimiter, RateLimitMiddleware

N = 100_000
KEY = b"Bearer tc_test_" + secrets.token_hex(24).encode()


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"[]"})


async def unauthorized(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    pass


def scope(authorization: bytes | None) -> dict[str, Any]:
    headers = [(b"host", b"x"), (b"accept", b"*/*")] + ([(b"authorization", authorization)] if authorization else [])
    return {"type": "http", "method": "GET", "path": "/v1/tenants", "headers": headers, "client": ("10.0.0.1", 1)}


async def per_request(app: Any, authorization: bytes | None = KEY, n: int = N) -> float:
    s = scope(authorization)
    for _ in range(1000):  # warm up (and prove the key)
        await app(dict(s), receive, send)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(s), receive, send)
    return (time.perf_counter() - started) / n * 1e6


async def rows(engine: AsyncEngine, label: str) -> list[tuple[str, float]]:
    def limited(app: Any, **settings: Any) -> RateLimitMiddleware:
        return RateLimitMiddleware(app, RateLimiter(Settings(**settings), b"s" * 32, engine))

    wide = {"rate_limit": 1e9, "rate_limit_burst": 10**9}
    out = [
        (f"{label}: known key, allowed", await per_request(limited(ok, **wide))),
        (f"{label}: known key, refused (429)", await per_request(limited(ok, rate_limit=1, rate_limit_burst=1))),
        (
            f"{label}: bad key from a throttled address (429)",
            await per_request(limited(unauthorized, auth_failure_limit=1), authorization=b"Bearer nope"),
        ),
    ]
    # The defaults (100/s, burst 500) at full speed: a key over its limit most of the time; on
    # PostgreSQL at most 10 batches a second are asked for.
    out.append((f"{label}: known key, default limits, 1 s flat out", await flat_out(limited(ok))))
    return out


async def flat_out(app: Any) -> float:
    s = scope(KEY)
    await app(dict(s), receive, send)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        for _ in range(1000):
            await app(dict(s), receive, send)
        n += 1000
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    bare = await per_request(ok)
    results = [("bare app (no middleware)", bare)]
    sqlite = create_async_engine("sqlite+aiosqlite://")
    results += await rows(sqlite, "SQLite (in-process buckets)")
    await sqlite.dispose()
    pg = await scratch_postgres()
    if pg is not None:
        engine, drop = pg
        results += await rows(engine, "PostgreSQL (shared buckets)")
        await engine.dispose()
        await drop()
    print(f"{'path':60} {'µs/request':>11} {'overhead µs':>12}")
    for label, micros in results:
        print(f"{label:60} {micros:11.2f} {micros - bare:12.2f}")


async def scratch_postgres() -> tuple[AsyncEngine, Any] | None:
    try:
        import asyncpg

        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    except Exception as exc:
        print(f"(no PostgreSQL: {exc})")
        return None
    name = f"tc_ratelimit_bench_{secrets.token_hex(4)}"
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    async with engine.begin() as connection:
        from tenantcore.ratelimit.models import RateLimitBucket

        await connection.run_sync(RateLimitBucket.__table__.create)  # type: ignore[attr-defined]

    async def drop() -> None:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()

    return engine, drop


if __name__ == "__main__":
    asyncio.run(main())
