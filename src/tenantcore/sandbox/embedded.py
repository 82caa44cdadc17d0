"""The embedded sandbox: the Microsoft 365 emulator and the sandbox DNS server,
running inside `tenantcore serve`, their state saved in the data dir across restarts."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantcore.config import Settings
from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.dnshealth.names import registrable_zone
from tenantcore.dnshealth.records import DnsRecord
from tenantcore.emulator import EmulatorProfile, EmulatorState, ThreadedServer, create_app
from tenantcore.emulator.state import Tenant as EmulatedTenant
from tenantcore.microsoft import MicrosoftConfig
from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore, restore, snapshot

log = logging.getLogger(__name__)

# Microsoft's side of public DNS that checks of an M365 domain follow: the SPF include, and
# addresses for the hosts customers point at. Seeded into the sandbox DNS on first start.
MICROSOFT_PUBLIC_RECORDS = [
    (
        "spf.protection.outlook.com",
        "TXT",
        "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/16 "
        "ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 -all",
    ),
    ("autodiscover.outlook.com", "A", "52.98.0.1"),
]


def emulator_profile(settings: Settings) -> EmulatorProfile:
    """The profile TENANTCORE_SANDBOX_PROFILE names, with every TENANTCORE_SANDBOX_<KNOB> that is set."""
    knobs = {name: getattr(settings, f"sandbox_{name}", None) for name in EmulatorProfile.knobs()}
    return EmulatorProfile.named(settings.sandbox_profile).with_(**{k: v for k, v in knobs.items() if v is not None})


def _write_json(path: Path, data: Any) -> None:
    # 0600: the emulator's state holds its apps' client secrets and issued tenants.
    _write_private(path, json.dumps(data))


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)  # a file left over from before keeps its mode through O_CREAT
    os.replace(tmp, path)  # atomic: a crash never leaves half a file


class _SaveOnChange:
    """Saves the emulator's state after every request that changed it."""

    def __init__(self, app: ASGIApp, save: Any) -> None:
        self.app, self.save = app, save

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        # Tokens change nothing worth keeping; everything else that is not a read might.
        if scope["type"] != "http" or status >= 400:
            return
        if scope["method"] != "GET" and not scope["path"].endswith("/token"):
            self.save()


class Sandbox:
    def __init__(
        self,
        data_dir: Path,
        dns_port: int = 0,
        emulator_port: int = 0,
        accepted_lag: float | None = None,
        profile: EmulatorProfile | None = None,
        delegations: dict[str, str] | None = None,
        control_token: str | None = None,
    ) -> None:
        self.dir = data_dir / "sandbox"
        self.control_token = control_token or secrets.token_urlsafe(24)  # the emulator's /_emulator
        self.dns_port = dns_port
        self.emulator_port = emulator_port
        self.store = ZoneStore()
        for zone, address in (delegations or {}).items():
            self.store.delegate(zone, address)
        self.state = EmulatorState(profile=profile or EmulatorProfile.instant(), accepted_lag=accepted_lag)
        self._save_lock = threading.Lock()
        self.dns: SandboxDnsServer | None = None
        self.emulator: ThreadedServer | None = None
        self.client_id = ""
        self.client_secret = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        return cls(
            settings.data_dir,
            settings.sandbox_dns_port,
            settings.sandbox_emulator_port,
            profile=emulator_profile(settings),
            delegations=settings.sandbox_dns_delegations,
            control_token=settings.sandbox_emulator_token.get_secret_value()
            if settings.sandbox_emulator_token
            else None,
        )

    def start(self) -> Sandbox:
        self.dir.mkdir(parents=True, exist_ok=True)
        zones, world = self.dir / "zones.json", self.dir / "emulator.json"
        if zones.exists():
            restore(self.store, json.loads(zones.read_text()))
        else:
            for name, rtype, value in MICROSOFT_PUBLIC_RECORDS:
                self.store.add(name, rtype, value)
        if world.exists():
            self.state.restore(json.loads(world.read_text()))
        if not self.state.apps:
            self.state.add_app(str(uuid.uuid4()), secret=secrets.token_urlsafe(32), name="TenantCore sandbox")
            self.save()
        app = next(iter(self.state.apps.values()))
        self.client_id, self.client_secret = app.client_id, next(iter(app.secrets))
        self.dns = SandboxDnsServer(self.store, port=self.dns_port).start()
        _write_private(self.dir / "emulator-token", self.control_token)  # for driving it by hand
        emulator_app = create_app(self.state, self.resolver, self.control_token)
        self.emulator = ThreadedServer(_SaveOnChange(emulator_app, self.save), port=self.emulator_port).start()
        log.info("sandbox: DNS on %s, Microsoft 365 emulator on %s", self.dns.address, self.emulator.url)
        return self

    @property
    def resolver(self) -> ResolverConfig:
        assert self.dns is not None
        return ResolverConfig(nameservers=(self.dns.address,), timeout=1.0, tries=2)

    @property
    def microsoft_config(self) -> MicrosoftConfig:
        return MicrosoftConfig(self.client_id, client_secret=self.client_secret, backoff_base=0.2)

    def create_tenant(self, name: str) -> EmulatedTenant:
        tenant = self.state.create_tenant(name, consent_app=self.client_id)
        self.save()
        return tenant

    def register(self, domain: str) -> None:
        """The sandbox is also the registrar: a domain added in test mode is one you own, so its
        zone exists (empty until records are published) and DNS answers for it."""
        if self.store.zone_of(domain) is None and self.store.delegation_of(domain) is None:
            self.store.add_zone(registrable_zone(domain))
            self.save()

    def publish(self, records: Iterable[DnsRecord]) -> None:
        self.store.publish(records)
        self.save()

    def save(self) -> None:
        with self._save_lock:
            _write_json(self.dir / "zones.json", snapshot(self.store))
            _write_json(self.dir / "emulator.json", self.state.snapshot())

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
        if self.dns is not None:
            self.dns.stop()
        self.save()
