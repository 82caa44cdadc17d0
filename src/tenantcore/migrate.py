"""Applying the Alembic migrations shipped inside the package (on `serve` start and in tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def upgrade_async(url: str) -> None:
    """Alembic's env runs its own event loop, so it runs in a worker thread here."""
    await asyncio.to_thread(upgrade, url)
