"""The whole service running on loopback HTTP: API, emulator and sandbox DNS in-process, SQLite in a
temporary data dir. Clients talk to it over real HTTP, as users do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts import service as accounts
from tenantcore.app import create_app
from tenantcore.config import Settings
from tenantcore.db import create_engine, session_factory, transaction
from tenantcore.emulator import ThreadedServer
from tenantcore.runtime import Runtime


class Service:
    def __init__(self, data_dir: Path, **settings: object) -> None:
        """`port=N` listens there and makes it the service's own address (what consent
        redirects back to); by default any free port, and the address in settings is not it."""
        self.settings = Settings(data_dir=data_dir, **settings)
        self.runtime = Runtime(self.settings)
        self.app = create_app(self.settings, self.runtime)
        port = self.settings.port if "port" in settings else 0
        self.server = ThreadedServer(self.app, port=port, lifespan="on").start()
        self.url = self.server.url
        self.keys = dict(self.runtime.first_keys)

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def new_account(self) -> dict[str, str]:
        """Another account, made the way `tenantcore keys` does: through the same database."""
        # The service's own database (PostgreSQL too), not the SQLite file data_dir defaults to.
        settings = Settings(data_dir=self.settings.data_dir, database_url=self.settings.database_url, sandbox=False)
        other = Runtime(settings)
        async with other.sessions() as session:
            _, keys = await accounts.create_account(session, other.secret, "other")
            await session.commit()
        await other.engine.dispose()
        return keys

    @asynccontextmanager
    async def database(self) -> AsyncIterator[AsyncSession]:
        """A transaction on the service's database from the test's own event loop (the
        server's pool belongs to the server's loop and must not be borrowed)."""
        engine = create_engine(self.settings.db_url)
        try:
            async with transaction(session_factory(engine)) as session:
                yield session
        finally:
            await engine.dispose()

    def stop(self) -> None:
        self.server.stop()
