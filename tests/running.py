"""The whole service running on loopback HTTP: API, emulator and sandbox DNS in-process, SQLite in a
temporary data dir. Clients talk to it over real HTTP, as users do."""

from __future__ import annotations

from pathlib import Path

import httpx

from tenantcore.accounts import service as accounts
from tenantcore.app import create_app
from tenantcore.config import Settings
from tenantcore.emulator import ThreadedServer
from tenantcore.runtime import Runtime


class Service:
    def __init__(self, data_dir: Path, **settings: object) -> None:
        self.settings = Settings(data_dir=data_dir, **settings)
        self.runtime = Runtime(self.settings)
        self.app = create_app(self.settings, self.runtime)
        self.server = ThreadedServer(self.app, lifespan="on").start()
        self.url = self.server.url
        self.keys = dict(self.runtime.first_keys)

    def client(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def new_account(self) -> dict[str, str]:
        """Another account, made the way `tenantcore keys` does: through the same database."""
        other = Runtime(Settings(data_dir=self.settings.data_dir, sandbox=False))
        async with other.sessions() as session:
            _, keys = await accounts.create_account(session, other.secret, "other")
            await session.commit()
        await other.engine.dispose()
        return keys

    def stop(self) -> None:
        self.server.stop()
