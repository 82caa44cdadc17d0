"""Accounts and their keys. The functions that take a session run inside their caller's
transaction (start-up, the CLI and `rotate` compose them); `rotate` owns its own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tenantcore.accounts import keys, repository
from tenantcore.accounts.models import Account
from tenantcore.db import transaction
from tenantcore.errors import TenantCoreError


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account, the mode their key gives (live or test), and the key."""

    account_id: str
    mode: str
    key_id: str


async def create_account(session: AsyncSession, secret: bytes, name: str) -> tuple[Account, dict[str, str]]:
    """A new account with one live and one test key; the keys are returned once, never stored."""
    account = await repository.add_account(session, name)
    issued = {mode: await create_key(session, secret, account.id, mode) for mode in keys.MODES}
    return account, issued


async def create_key(session: AsyncSession, secret: bytes, account_id: str, mode: str) -> str:
    key = keys.generate(mode)
    await repository.add_key(session, account_id, mode, keys.digest(secret, key), key[-4:])
    return key


def bearer_token(authorization: str | None) -> str:
    """The API key out of an Authorization header, or the 401 that says what is wrong with it."""
    # The scheme is case-insensitive (RFC 9110 11.1): "bearer" and "BEARER" are Bearer.
    if authorization is None or authorization[:6].lower() != "bearer":
        raise TenantCoreError(
            401,
            "invalid_auth_header",
            "Send the API key as 'Authorization: Bearer tc_live_…' (or tc_test_… for the sandbox).",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise TenantCoreError(401, "invalid_auth_header", "The Authorization header must use the Bearer scheme.")
    token = token.strip()
    if not token:
        raise TenantCoreError(401, "missing_api_key", "The Bearer token is empty: send your API key.")
    return token


async def authenticate(session: AsyncSession, secret: bytes, authorization: str | None) -> Caller:
    token = bearer_token(authorization)
    mode = keys.mode_of(token)
    key = await repository.active_key(session, keys.digest(secret, token)) if mode else None
    if key is None:
        raise TenantCoreError(401, "invalid_api_key", "The API key is not valid (unknown, revoked or malformed).")
    return Caller(key.account_id, key.mode, key.id)


async def rotate(sessions: async_sessionmaker[AsyncSession], secret: bytes, caller: Caller) -> str:
    """A new key of the caller's mode; the calling key stops working at once."""
    async with transaction(sessions) as session:
        if not await repository.revoke(session, caller.key_id):
            raise TenantCoreError(401, "invalid_api_key", "This key was already rotated.")
        return await create_key(session, secret, caller.account_id, caller.mode)


async def caller_of_key(sessions: async_sessionmaker[AsyncSession], secret: bytes, key: str) -> Caller:
    """Who an API key typed into the app's sign-in form belongs to (as `authenticate`)."""
    async with sessions() as session:
        return await authenticate(session, secret, f"Bearer {key.strip()}")


async def key_is_active(sessions: async_sessionmaker[AsyncSession], key_id: str) -> bool:
    """Whether a signed-in session's key still works (rotating a key signs its sessions out)."""
    async with sessions() as session:
        return await repository.key_is_active(session, key_id)
