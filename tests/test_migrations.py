"""The same Alembic migrations build the schema on SQLite and on PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from tenantcore.migrate import alembic_config, upgrade


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
