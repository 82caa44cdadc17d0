"""All SQL about idempotency keys. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.idempotency.models import IdempotencyRecord


async def get(session: AsyncSession, scope: str, key: str) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )


async def take_over(
    session: AsyncSession, scope: str, key: str, fingerprint: str, until: datetime, at: datetime
) -> bool:
    """Run the request again under an expired or abandoned record (its holder died)."""
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.running_until.is_not(None),
            IdempotencyRecord.running_until < at,
        )
        .values(running_until=until, fingerprint=fingerprint)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(session: AsyncSession, scope: str, key: str, status: int, headers: list[list[str]], body: str) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(running_until=None, status=status, headers=headers, body=body)
        .execution_options(synchronize_session=False)
    )


async def forget(session: AsyncSession, scope: str, key: str) -> None:
    await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )


async def prune(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
