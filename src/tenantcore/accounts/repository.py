"""All SQL about accounts and keys. Nothing here commits."""

from __future__ import annotations

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.models import Account, ApiKey
from tenantcore.db import now


async def count_accounts(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def first_account(session: AsyncSession) -> Account | None:
    return await session.scalar(select(Account).order_by(Account.created_at).limit(1))


async def get_account(session: AsyncSession, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def add_account(session: AsyncSession, name: str) -> Account:
    account = Account(name=name)
    session.add(account)
    await session.flush()
    return account


async def lock(session: AsyncSession, account_id: str) -> None:
    """Take the account's row lock for the rest of the transaction (a no-op write: a row lock
    on PostgreSQL, the write lock on SQLite), to serialise changes that count against a plan."""
    await session.execute(update(Account).where(Account.id == account_id).values(name=Account.name))


async def add_key(session: AsyncSession, account_id: str, mode: str, key_hmac: str, hint: str) -> ApiKey:
    key = ApiKey(account_id=account_id, mode=mode, key_hmac=key_hmac, hint=hint)
    session.add(key)
    await session.flush()
    return key


async def active_key(session: AsyncSession, key_hmac: str) -> Row[tuple[str, str, str]] | None:
    """(id, account_id, mode) of a live key: on every request, so columns only, no ORM object."""
    result = await session.execute(
        select(ApiKey.id, ApiKey.account_id, ApiKey.mode).where(
            ApiKey.key_hmac == key_hmac, ApiKey.revoked_at.is_(None)
        )
    )
    return result.first()


async def key_is_active(session: AsyncSession, key_id: str) -> bool:
    found = await session.scalar(select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)))
    return found is not None


async def revoke(session: AsyncSession, key_id: str) -> bool:
    """Revoke a key unless already revoked; False when someone else got there first."""
    result = await session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
