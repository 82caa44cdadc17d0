"""The same Alembic migrations build the schema on SQLite and on PostgreSQL, and match the models."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from alembic import command

from tenantcore.migrate import alembic_config, upgrade

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _pg(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> str:
    name = f"tc_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg(f"CREATE DATABASE {name}"))
    except OSError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc}); CI machines have one")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_sqlite_migrations_match_the_models(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises if the models and migrations disagree
    upgrade(url)  # idempotent: a second start changes nothing


def test_postgresql_migrations_match_the_models(postgres_url: str):
    upgrade(postgres_url)
    command.check(alembic_config(postgres_url))
    command.downgrade(alembic_config(postgres_url), "base")
    upgrade(postgres_url)
