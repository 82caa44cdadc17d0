"""The database: async engine and sessions, SQLite (WAL, busy timeout) or PostgreSQL.

The transaction rule, followed everywhere:
- services own transactions, and keep them short: reserve → call Microsoft → save, each step
  its own `transaction()`; a transaction is never held open across a call to Microsoft or a
  DNS provider (it would hold locks, and on SQLite the one write lock, for seconds);
- routes and pages never open sessions: they call services (the API's request-scoped read
  session for authentication and the hot list read is the one exception, in `api/deps.py`);
- repositories never commit: they run SQL in the session they are handed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and read back timezone-aware on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Pool connections explicitly: without it each session opened a new aiosqlite connection
        # (a new thread and the PRAGMAs below), ~4 ms a request (bench/README.md).
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, poolclass=AsyncAdaptedQueuePool, pool_size=8, max_overflow=8
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(connection: object, _record: object) -> None:
            cursor = connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # A fixed number per process, no overflow: under a burst, requests wait their turn for a
    # connection (pool_timeout) instead of opening more until PostgreSQL refuses them all
    # ("too many clients": every request of every process failing at once).
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One short transaction: commits when the block ends, rolls back when it raises."""
    async with sessions() as session, session.begin():
        yield session
