"""What a running TenantCore holds: settings, database, the server secret, the sandbox, and
per mode the Microsoft clients and the DNS health checker."""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenantcore.accounts import repository as accounts_repo
from tenantcore.accounts import service as accounts
from tenantcore.accounts.keys import load_or_create_secret
from tenantcore.api.errors import ApiError
from tenantcore.config import Settings
from tenantcore.db import create_engine, session_factory
from tenantcore.dnshealth import HealthChecker, ResolverConfig
from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig
from tenantcore.migrate import upgrade_async
from tenantcore.sandbox import Sandbox

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.secret = load_or_create_secret(settings.data_dir / "secret.key", secret)
        self.engine: AsyncEngine = create_engine(settings.db_url)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.sandbox: Sandbox | None = None
        self._microsoft: dict[str, MicrosoftClients] = {}
        self._checkers: dict[str, HealthChecker] = {}
        self.first_keys: dict[str, str] = {}

    async def start(self, bootstrap: bool = True) -> None:
        await upgrade_async(self.settings.db_url)
        if bootstrap:
            self.first_keys = await self._bootstrap()
        if self.settings.sandbox:
            s = self.settings
            self.sandbox = Sandbox(s.data_dir, s.sandbox_dns_port, s.sandbox_emulator_port, s.sandbox_accepted_lag)
            self.sandbox.start()

    async def _bootstrap(self) -> dict[str, str]:
        """On first start, one account with a live and a test key (returned to be shown once)."""
        async with self.sessions() as session:
            if await accounts_repo.count_accounts(session):
                return {}
            _, issued = await accounts.create_account(session, self.secret, "default")
            await session.commit()
            return issued

    def require_sandbox(self) -> Sandbox:
        if self.sandbox is None:
            raise ApiError(503, "sandbox_disabled", "The sandbox is turned off on this server (TENANTCORE_SANDBOX).")
        return self.sandbox

    def microsoft(self, mode: str) -> MicrosoftClients:
        clients = self._microsoft.get(mode)
        if clients is None:
            if mode == "test":
                sandbox = self.require_sandbox()
                assert sandbox.emulator is not None
                clients = MicrosoftClients.create(sandbox.microsoft_config, emulator=sandbox.emulator.url)
            else:
                s = self.settings
                if not (s.ms_client_id and s.ms_client_secret):
                    raise ApiError(
                        503,
                        "microsoft_not_configured",
                        "Live mode needs TENANTCORE_MS_CLIENT_ID and TENANTCORE_MS_CLIENT_SECRET "
                        "(see the README, 'Going live').",
                    )
                clients = MicrosoftClients.create(
                    MicrosoftConfig(s.ms_client_id, client_secret=s.ms_client_secret.get_secret_value())
                )
            self._microsoft[mode] = clients
        return clients

    def checker(self, mode: str) -> HealthChecker:
        checker = self._checkers.get(mode)
        if checker is None:
            if mode == "test":
                config = replace(self.require_sandbox().resolver, concurrency=self.settings.dns_concurrency)
            else:
                config = ResolverConfig(
                    nameservers=tuple(self.settings.dns_nameservers),
                    concurrency=self.settings.dns_concurrency,
                    timeout=self.settings.dns_timeout,
                    tries=self.settings.dns_tries,
                )
            checker = self._checkers[mode] = HealthChecker(config)
        return checker

    async def close(self) -> None:
        for clients in self._microsoft.values():
            await clients.aclose()
        if self.sandbox is not None:
            self.sandbox.stop()
        await self.engine.dispose()
