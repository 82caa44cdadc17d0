"""Token buckets by name: `rate` tokens a second up to `burst`.

Two kinds, one interface. `LocalBuckets` lives in the process (SQLite: one process serves one
data dir). `SharedBuckets` keeps the truth in PostgreSQL (`rate_limit_buckets`, UNLOGGED) so
every process serving one database draws from the same bucket: a process takes tokens in
batches (one atomic INSERT … ON CONFLICT DO UPDATE … RETURNING), spends them locally, and asks
again only when they run out. A busy key costs at most `rate / batch` round trips a second per
process, however many requests it sends; a key over its limit costs none until its next batch
is due. Tokens taken but not spent lapse after `LEASE_TTL` seconds, so the total spent across
processes stays within `burst + rate * (elapsed + LEASE_TTL)`.

`try_take` is the synchronous fast path (a few dict and float operations); it answers None
when only the database can tell, and the caller then awaits `take`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("tenantcore.ratelimit")

LEASE_TTL = 1.0  # seconds a batch of tokens may be spent locally
MAX_BUCKETS = 50_000  # per process; idle buckets are dropped beyond this (memory bound)
_SWEEP_TO = MAX_BUCKETS * 3 // 4  # a sweep leaves room, so the next one is far off (no scan per request)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int  # the burst: what a full bucket holds
    remaining: int
    reset: int  # whole seconds until the bucket is full again (allowed) or a token is back (refused)

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset).encode()),
        ]


class Buckets:
    """What the middleware and the sign-in form use."""

    rate: float
    burst: int

    def try_take(self, name: str) -> Verdict | None:
        raise NotImplementedError

    async def take(self, name: str) -> Verdict:
        raise NotImplementedError

    def blocked(self, name: str) -> Verdict | None:
        """The refusal `name` would get now, without spending a token; None if not known empty."""
        raise NotImplementedError

    def peek(self, name: str) -> Verdict:
        """The bucket's state for response headers, spending nothing."""
        raise NotImplementedError

    def _full_in(self, remaining: float) -> int:
        return max(0, math.ceil((self.burst - remaining) / self.rate))


class _Local:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens, self.stamp = tokens, stamp


class LocalBuckets(Buckets):
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, _Local] = {}

    def _refilled(self, name: str, now: float) -> _Local:
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._sweep(now)
            bucket = self._buckets[name] = _Local(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def _sweep(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: forget those first.
        full = [n for n, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for name in full:
            del self._buckets[name]
        while len(self._buckets) >= _SWEEP_TO:  # still full: forget the oldest
            del self._buckets[next(iter(self._buckets))]

    def try_take(self, name: str) -> Verdict:
        bucket = self._refilled(name, time.monotonic())
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict(True, self.burst, int(bucket.tokens), self._full_in(bucket.tokens))
        return Verdict(False, self.burst, 0, max(1, math.ceil((1 - bucket.tokens) / self.rate)))

    async def take(self, name: str) -> Verdict:
        return self.try_take(name)

    def blocked(self, name: str) -> Verdict | None:
        if name not in self._buckets:
            return None
        bucket = self._refilled(name, time.monotonic())
        if bucket.tokens >= 1:
            return None
        return Verdict(False, self.burst, 0, max(1, math.ceil((1 - bucket.tokens) / self.rate)))

    def peek(self, name: str) -> Verdict:
        bucket = self._buckets.get(name)
        if bucket is None:
            return Verdict(True, self.burst, self.burst, 0)
        tokens = min(self.burst, bucket.tokens + (time.monotonic() - bucket.stamp) * self.rate)
        return Verdict(True, self.burst, int(tokens), self._full_in(tokens))


class _Lease:
    __slots__ = ("expires", "fetching", "retry_at", "shared_left", "tokens")

    def __init__(self) -> None:
        self.tokens = 0  # taken from the shared bucket, not spent yet
        self.expires = 0.0  # monotonic time the unspent tokens lapse
        self.retry_at = 0.0  # the shared bucket was empty: do not ask again before this
        self.shared_left = 0.0  # what the shared bucket held after our last take
        self.fetching: asyncio.Task[None] | None = None


# One statement, atomic under concurrency (the row lock orders the takers): refill by the time
# elapsed on the database's clock, grant up to :want whole tokens, keep the rest.
_NOW = "extract(epoch from statement_timestamp())::float8"
_REFILLED = f"least(CAST(:burst AS float8), b.tokens + greatest(0, {_NOW} - b.updated_at) * CAST(:rate AS float8))"
_GRANTED = f"least(CAST(:want AS integer), floor({_REFILLED})::integer)"
_TAKE = text(
    f"""
    INSERT INTO rate_limit_buckets AS b (name, tokens, updated_at, granted)
    VALUES (:name, CAST(:burst AS float8) - CAST(:want AS integer), {_NOW}, CAST(:want AS integer))
    ON CONFLICT (name) DO UPDATE SET
        granted = {_GRANTED},
        tokens = {_REFILLED} - {_GRANTED},
        updated_at = greatest(b.updated_at, {_NOW})
    RETURNING granted, tokens
    """
)
# A bucket untouched long enough to be full again is the same as no row.
_FORGET = text(f"DELETE FROM rate_limit_buckets WHERE updated_at < {_NOW} - CAST(:age AS float8)")


class SharedBuckets(Buckets):
    def __init__(self, engine: AsyncEngine, rate: float, burst: int, prefix: str) -> None:
        self.engine, self.rate, self.burst, self.prefix = engine, rate, max(1, burst), prefix
        # A tenth of a second's worth per round trip: ≤ 10 round trips a second per busy key.
        self.batch = max(1, min(self.burst, round(rate / 10)))
        self._leases: dict[str, _Lease] = {}
        self._error_logged = 0.0
        self._swept = time.monotonic()

    def _lease(self, name: str) -> _Lease:
        lease = self._leases.get(name)
        if lease is None:
            if len(self._leases) >= MAX_BUCKETS:
                self._sweep(time.monotonic())
            lease = self._leases[name] = _Lease()
        return lease

    def _sweep(self, now: float) -> None:
        idle = [n for n, e in self._leases.items() if e.expires < now and e.retry_at < now and e.fetching is None]
        for name in idle:
            del self._leases[name]
        while len(self._leases) >= _SWEEP_TO:
            del self._leases[next(iter(self._leases))]

    def _remaining(self, lease: _Lease) -> int:
        return min(self.burst, lease.tokens + int(lease.shared_left))

    def try_take(self, name: str) -> Verdict | None:
        lease = self._lease(name)
        now = time.monotonic()
        if lease.tokens > 0 and now < lease.expires:
            lease.tokens -= 1
            remaining = self._remaining(lease)
            return Verdict(True, self.burst, remaining, self._full_in(remaining))
        if now < lease.retry_at:
            return Verdict(False, self.burst, 0, max(1, math.ceil(lease.retry_at - now)))
        return None

    async def take(self, name: str) -> Verdict:
        for _ in range(3):  # others in this process may spend a fresh batch before we get to it
            verdict = self.try_take(name)
            if verdict is not None:
                return verdict
            lease = self._lease(name)
            if lease.fetching is None:
                lease.fetching = asyncio.get_running_loop().create_task(self._fetch(name, lease))
            # Shielded: a caller that goes away must not cancel the batch the others wait for.
            await asyncio.shield(lease.fetching)
        return self.try_take(name) or Verdict(False, self.burst, 0, 1)

    async def _fetch(self, name: str, lease: _Lease) -> None:
        try:
            async with self.engine.connect() as connection:
                row = (
                    await connection.execute(
                        _TAKE,
                        {
                            "name": f"{self.prefix}:{name}",
                            "burst": self.burst,
                            "want": self.batch,
                            "rate": float(self.rate),
                        },
                    )
                ).one()
                now = time.monotonic()
                if now - self._swept > 60:
                    self._swept = now
                    await connection.execute(_FORGET, {"age": self.burst / self.rate + 60})
                await connection.commit()
            granted, left = int(row[0]), float(row[1])
            lease.tokens, lease.expires, lease.shared_left = granted, now + LEASE_TTL, left
            if granted < self.batch:
                # Empty (or nearly): the next batch is due once the bucket holds it again.
                lease.retry_at = now + (min(self.batch, self.burst) - left) / self.rate
        except Exception:
            # The limiter must not take the API down with the database: let this batch through.
            now = time.monotonic()
            if now - self._error_logged > 60:
                self._error_logged = now
                log.warning("rate limit: the shared bucket could not be read; allowing", exc_info=True)
            lease.tokens, lease.expires, lease.shared_left = self.batch, now + LEASE_TTL, 0.0
        finally:
            lease.fetching = None

    def blocked(self, name: str) -> Verdict | None:
        lease = self._leases.get(name)
        if lease is None:
            return None
        now = time.monotonic()
        if (lease.tokens > 0 and now < lease.expires) or now >= lease.retry_at:
            return None
        return Verdict(False, self.burst, 0, max(1, math.ceil(lease.retry_at - now)))

    def peek(self, name: str) -> Verdict:
        lease = self._leases.get(name)
        if lease is None:
            return Verdict(True, self.burst, self.burst, 0)
        remaining = self._remaining(lease) if time.monotonic() < lease.expires else int(lease.shared_left)
        return Verdict(True, self.burst, remaining, self._full_in(remaining))
