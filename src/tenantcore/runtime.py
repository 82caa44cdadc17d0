"""What a running TenantCore holds: settings, database, the server secret, the sandbox, and per
mode (live or test) the environment the services work in.

`Runtime.env(mode)` is the one seam between live and test: it hands out the Microsoft clients,
the DNS checker, the DNS publisher (the sandbox's, in test mode; none live yet), where admin
consent happens and how a tenant comes to exist. Nothing else in the service asks which mode
it is in.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tenantcore.accounts import repository as accounts_repo
from tenantcore.accounts import service as accounts
from tenantcore.accounts.keys import load_or_create_secret
from tenantcore.config import Settings
from tenantcore.db import create_engine, session_factory, transaction
from tenantcore.dnshealth import HealthChecker, ResolverConfig
from tenantcore.dnshealth.records import DnsRecord, configure_dmarc_rua
from tenantcore.dnsproviders.base import DnsProvider
from tenantcore.domains.listing import Listing
from tenantcore.errors import TenantCoreError
from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig
from tenantcore.microsoft.config import Endpoints
from tenantcore.migrate import upgrade_async
from tenantcore.sandbox import Sandbox

log = logging.getLogger(__name__)


class DnsPublisher(Protocol):
    """Writes a domain's records where DNS serves them (the sandbox's DNS server today; the
    DNS providers of issue #13 tomorrow)."""

    def register(self, domain: str) -> None: ...

    def publish(self, records: Iterable[DnsRecord]) -> None: ...


@dataclass
class ModeEnv:
    """Everything that differs between live and test mode, in one place."""

    mode: str
    checker: HealthChecker
    consent_base: str  # where the admin-consent page is
    consent_client_id: str | None
    publisher: DnsPublisher | None = None  # None: the operator publishes at their registrar
    create_tenant: Callable[[str], str] | None = None  # a new tenant's id; None: only consent makes one
    _connect: Callable[[], MicrosoftClients] | None = field(default=None, repr=False)
    _clients: MicrosoftClients | None = field(default=None, repr=False)

    @property
    def microsoft(self) -> MicrosoftClients:
        if self._clients is None:
            if self._connect is None:
                raise TenantCoreError(
                    503,
                    "microsoft_not_configured",
                    "Live mode needs TENANTCORE_MS_CLIENT_ID and TENANTCORE_MS_CLIENT_SECRET "
                    "(see the README, 'Going live').",
                )
            self._clients = self._connect()
        return self._clients

    @property
    def has_microsoft(self) -> bool:
        return self._clients is not None or self._connect is not None

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.aclose()


def _create_private(path: Path) -> None:
    """Create the embedded database file readable by its owner only (0600, like secret.key): it
    holds the encrypted tenant credentials and the keys' HMACs. SQLite gives its -wal and -shm
    files the database file's permissions. A database an older version left readable by others
    is made private too, and the log says so."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
                log.warning("%s was readable by other users; it is now private to its owner (0600)", file)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Process-wide: the records every part of this process recommends (checks, publishing, exports).
        configure_dmarc_rua(settings.dmarc_rua)
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if settings.database_url is None:
            _create_private(settings.data_dir / "tenantcore.db")
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.secret = load_or_create_secret(settings.data_dir / "secret.key", secret)
        self.engine: AsyncEngine = create_engine(settings.db_url, settings.db_pool_size)
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.sandbox: Sandbox | None = None
        self._envs: dict[str, ModeEnv] = {}
        self.first_keys: dict[str, str] = {}
        # Opened DNS provider connections by provider id (rows never change: a new connection
        # is a new row), so a provider's concurrency bound holds across requests.
        self.dns_providers: dict[str, DnsProvider] = {}
        self.listing = Listing(self.engine, self.secret)  # the domain list's one-statement read

    async def start(self, bootstrap: bool = True) -> None:
        await upgrade_async(self.settings.db_url)
        if bootstrap:
            self.first_keys = await self._bootstrap()
        if self.settings.sandbox:
            self.sandbox = Sandbox.from_settings(self.settings)
            self.sandbox.start()

    @classmethod
    @asynccontextmanager
    async def opened(cls, settings: Settings, bootstrap: bool = False) -> AsyncIterator[Runtime]:
        """A started runtime for a command-line entry point, closed on the way out."""
        runtime = cls(settings)
        await runtime.start(bootstrap=bootstrap)
        try:
            yield runtime
        finally:
            await runtime.close()

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A short transaction: committed when the block ends, rolled back on an exception
        (the rule in `db.py`)."""
        return transaction(self.sessions)

    async def _bootstrap(self) -> dict[str, str]:
        """On first start, one account with a live and a test key (returned to be shown once)."""
        async with self.transaction() as session:
            if await accounts_repo.count_accounts(session):
                return {}
            _, issued = await accounts.create_account(session, self.secret, "default")
            return issued

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes this process can act in: test-mode domains live in the sandbox, which only
        the serving process holds."""
        return ("live", "test") if self.sandbox is not None else ("live",)

    def env(self, mode: str) -> ModeEnv:
        env = self._envs.get(mode)
        if env is None:
            env = self._envs[mode] = self._sandbox_env() if mode == "test" else self._live_env()
        return env

    def _live_env(self) -> ModeEnv:
        s = self.settings
        resolver = ResolverConfig(
            nameservers=tuple(s.dns_nameservers),
            concurrency=s.dns_concurrency,
            timeout=s.dns_timeout,
            tries=s.dns_tries,
        )
        connect = None
        if s.ms_client_id and s.ms_client_secret:
            config = MicrosoftConfig(s.ms_client_id, client_secret=s.ms_client_secret.get_secret_value())
            connect = lambda: MicrosoftClients.create(config)  # noqa: E731
        return ModeEnv(
            mode="live",
            checker=HealthChecker(resolver, s.blocklists_for("live")),
            consent_base=Endpoints().login,
            consent_client_id=s.ms_client_id,
            _connect=connect,
        )

    def _sandbox_env(self) -> ModeEnv:
        sandbox = self.sandbox
        if sandbox is None or sandbox.emulator is None:
            raise TenantCoreError(
                503, "sandbox_disabled", "The sandbox is turned off on this server (TENANTCORE_SANDBOX)."
            )
        emulator = sandbox.emulator.url
        return ModeEnv(
            mode="test",
            checker=HealthChecker(
                replace(sandbox.resolver, concurrency=self.settings.dns_concurrency),
                self.settings.blocklists_for("test"),
            ),
            consent_base=emulator,
            consent_client_id=sandbox.client_id,
            publisher=sandbox,
            create_tenant=lambda name: sandbox.create_tenant(name).id,
            _connect=lambda: MicrosoftClients.create(sandbox.microsoft_config, emulator=emulator),
        )

    async def close(self) -> None:
        for env in self._envs.values():
            await env.aclose()
        for provider in self.dns_providers.values():
            await provider.aclose()
        if self.sandbox is not None:
            self.sandbox.stop()
        await self.listing.close()
        await self.engine.dispose()
