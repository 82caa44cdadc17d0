"""The emulator's world: apps, tenants, their domains and DKIM configs, and injected faults.

Shapes and behaviour follow `../shared/reference/microsoft-365.md`. Where the reference marks
a behaviour as inferred, the emulator picks the plausible one and says so in a comment.
"""

from __future__ import annotations

import copy
import hashlib
import random
import secrets
import string
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tenantcore.emulator.profile import EmulatorProfile

GRAPH_AUDIENCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
DEFAULT_GRAPH_ROLES = frozenset({"Domain.ReadWrite.All"})

Service = Literal["login", "graph", "exchange"]


# What an admin who added a domain elsewhere (admin center, PowerShell) usually left on it.
EXISTING_SERVICES = ("Email", "OfficeCommunicationsOnline", "Intune")
# Graph's PATCH can add or remove only these; any other service on a domain stays (G domain-update).
SETTABLE_SERVICES = frozenset({"Email", "OfficeCommunicationsOnline", "Yammer"})


def dashes(domain: str) -> str:
    return domain.replace(".", "-")


def one_label(text: str) -> str:
    """`text` as a DNS label: 63 characters at most, so a long domain's MX host and DKIM
    target stay names DNS can hold (a longer one is cut and ends in a hash of the whole).
    How Microsoft shortens them is not documented; this keeps the sandbox's names valid."""
    if len(text) <= 63:
        return text
    return f"{text[:54].rstrip('-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass
class App:
    client_id: str
    name: str
    secrets: set[str] = field(default_factory=set)
    certificates: dict[str, str] = field(default_factory=dict)  # base64url SHA-1 thumbprint -> PEM


@dataclass
class Consent:
    """What an admin granted the app in one tenant."""

    graph_roles: set[str] = field(default_factory=lambda: set(DEFAULT_GRAPH_ROLES))
    exchange_manage_as_app: bool = True
    exchange_admin_role: bool = True  # the Entra role on the service principal
    role_from: float = 0.0  # when an admin assigned that role (consent itself assigns none)
    granted_at: float = 0.0  # when consent was given: tokens follow after the consent lag
    revoked: bool = False  # new tokens are refused; tokens already issued live until they expire

    def has_exchange_role(self, now: float) -> bool:
        return self.exchange_admin_role and now >= self.role_from


@dataclass
class Domain:
    name: str
    verification_code: str  # "ms12345678"
    mx_target: str  # issued when the domain is added, as Microsoft does
    is_verified: bool = False
    is_default: bool = False
    is_initial: bool = False
    supported_services: list[str] = field(default_factory=list)
    email_enabled_at: float | None = None  # when supportedServices got Email (Exchange lag starts)
    references: int = 0  # users, groups, mailboxes using it; delete is refused while > 0
    record_seed: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: str = ""  # the MX/DKIM token Microsoft issued; "" means the name with dots as dashes
    parent: str | None = None  # the verified domain of the tenant this one is a subdomain of
    takeover: bool = False  # verify scheduled a takeover: Exchange takes longer to accept it
    locked_services: list[str] = field(default_factory=list)  # services a PATCH cannot remove

    @property
    def mx_token(self) -> str:
        return self.token or dashes(self.name)


@dataclass
class DkimConfig:
    domain: str
    selector1_cname: str
    selector2_cname: str
    key_size: int = 2048
    enabled: bool = False
    created: float = field(default_factory=time.time)
    ready_at: float = 0.0  # keys are made asynchronously: Get/Set find the config from then on
    cnames_seen_at: float | None = None  # when Exchange first saw both CNAMEs in DNS

    @property
    def status(self) -> str:
        return "Valid" if self.enabled else "CnameMissing"


@dataclass
class Stale:
    """What Entra's replicas still serve for a domain after a write: its previous version
    (None: not there yet) until `until`."""

    previous: Domain | None
    until: float


@dataclass
class Bucket:
    """Graph resource units left for one app in one tenant (refilled continuously)."""

    units: float
    stamp: float


@dataclass
class Tenant:
    id: str
    initial_domain: str
    display_name: str
    domains: dict[str, Domain] = field(default_factory=dict)
    dkim: dict[str, DkimConfig] = field(default_factory=dict)
    consents: dict[str, Consent] = field(default_factory=dict)
    token_requests: int = 0
    stale: dict[str, Stale] = field(default_factory=dict)  # not saved: a restart outlasts any lag

    @property
    def prefix(self) -> str:
        """The initial domain's label before .onmicrosoft.com, case kept (it shows in DKIM targets)."""
        return self.initial_domain.split(".", 1)[0]


@dataclass
class Fault:
    """Injected trouble: `throttle` (429 with Retry-After), `unavailable` (503) or `latency`.
    `match` is a substring of the path or the cmdlet name; `count` < 0 means forever."""

    kind: Literal["throttle", "unavailable", "latency"]
    service: Service | Literal["*"] = "*"
    match: str = ""
    count: int = 1
    retry_after: float | None = 1.0
    latency: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("throttle", "unavailable", "latency"):
            raise ValueError(f"fault kind must be throttle, unavailable or latency, not {self.kind!r}")
        if self.service not in ("*", "login", "graph", "exchange"):
            raise ValueError(f"fault service must be *, login, graph or exchange, not {self.service!r}")


@dataclass
class CallRecord:
    service: Service
    method: str
    target: str  # path, or cmdlet name for Exchange
    tenant: str | None
    status: int
    client_request_id: str | None = None


class EmulatorState:
    def __init__(
        self,
        *,
        profile: EmulatorProfile | None = None,
        accepted_lag: float | None = None,
        page_size: int = 100,
        dkim_format: Literal["new", "old"] = "new",
        mx_format: Literal["new", "legacy"] = "new",
        token_lifetime: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.profile = profile or EmulatorProfile.instant()
        if accepted_lag is not None:
            self.accepted_lag = accepted_lag
        if token_lifetime is not None:
            self.token_lifetime = token_lifetime
        self.page_size = page_size
        self.dkim_format = dkim_format
        self.mx_format = mx_format
        self.signing_key = secrets.token_bytes(32)
        self.apps: dict[str, App] = {}
        self.tenants: dict[str, Tenant] = {}
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.in_flight: dict[str, int] = {}  # Graph requests being served, per tenant
        self.peak_in_flight: dict[str, int] = {}
        self.buckets: dict[tuple[str, str], Bucket] = {}  # Graph resource units per (app, tenant)
        self.lock = threading.RLock()  # tests and the sandbox change state from other threads
        self._random = random.Random(seed)

    # The two knobs that were attributes before profiles: kept settable, stored in the profile.
    @property
    def accepted_lag(self) -> float:
        return self.profile.accepted_lag

    @accepted_lag.setter
    def accepted_lag(self, seconds: float) -> None:
        self.profile = self.profile.with_(accepted_lag=seconds)

    @property
    def token_lifetime(self) -> int:
        return self.profile.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self.profile = self.profile.with_(token_lifetime=seconds)

    # --- set-up (the sandbox and tests call these) ---------------------------------------
    def add_app(
        self,
        client_id: str | None = None,
        *,
        secret: str | None = None,
        certificate: tuple[str, str] | None = None,
        name: str = "TenantCore",
    ) -> App:
        """Register a multi-tenant app; `certificate` is (base64url SHA-1 thumbprint, PEM)."""
        client_id = client_id or str(uuid.uuid4())
        with self.lock:
            app = self.apps.setdefault(client_id, App(client_id, name))
            if secret:
                app.secrets.add(secret)
            if certificate:
                app.certificates[certificate[0].rstrip("=")] = certificate[1]
            return app

    def create_tenant(self, name: str, tenant_id: str | None = None, *, consent_app: str | None = None) -> Tenant:
        """A tenant with its initial `<name>.onmicrosoft.com` domain, optionally consented."""
        prefix = "".join(c for c in name if c.isalnum()) or "tenant"
        with self.lock:
            if self.profile.names_in_the_wild:
                prefix = self._mixed_case(prefix)
            tenant = Tenant(tenant_id or str(uuid.uuid4()), f"{prefix}.onmicrosoft.com", name)
            initial = tenant.initial_domain.lower()
            tenant.domains[initial] = Domain(
                initial,
                self._code(),
                self._mx(initial),
                is_verified=True,
                is_default=True,
                is_initial=True,
                supported_services=["Email", "OfficeCommunicationsOnline"],
                email_enabled_at=0.0,
            )
            if self.profile.mail_onmicrosoft:
                # Exchange's routing domain, present in every real tenant (the audit, §1).
                mail = f"{prefix.lower()}.mail.onmicrosoft.com"
                tenant.domains[mail] = Domain(
                    mail,
                    self._code(),
                    self._mx(mail),
                    is_verified=True,
                    supported_services=["Email"],
                    email_enabled_at=0.0,
                    parent=initial,
                )
            self.tenants[tenant.id] = tenant
            if consent_app:
                self.consent(tenant.id, consent_app)
            return tenant

    def consent(self, tenant_id: str, client_id: str, consent: Consent | None = None) -> Consent:
        """An admin consents now. Consent grants API permissions only: the Exchange role is an
        admin's separate step, `exchange_role_lag` seconds later in the profile."""
        now = time.time()
        with self.lock:
            if consent is None:
                consent = Consent(role_from=now + self.profile.exchange_role_lag)
            consent.granted_at = now
            self.tenants[tenant_id].consents[client_id] = consent
            return consent

    def revoke_consent(self, tenant_id: str, client_id: str) -> None:
        """The admin removes the app: new tokens are refused, issued ones live until they expire."""
        with self.lock:
            consent = self.tenants[tenant_id].consents.get(client_id)
            if consent is not None:
                consent.revoked = True

    def restore_consent(self, tenant_id: str, client_id: str) -> None:
        """Consent given again, with the permissions and role it had (the consent lag restarts)."""
        with self.lock:
            consent = self.tenants[tenant_id].consents[client_id]
            consent.revoked = False
            consent.granted_at = time.time()

    def grant_exchange_role(self, tenant_id: str, client_id: str, granted: bool = True) -> None:
        """An admin assigns (or removes) the Exchange Administrator role of the app, now."""
        with self.lock:
            consent = self.tenants[tenant_id].consents[client_id]
            consent.exchange_admin_role = granted
            consent.role_from = min(consent.role_from, time.time())

    def add_existing_domain(
        self,
        tenant_id: str,
        name: str,
        *,
        services: tuple[str, ...] | list[str] = EXISTING_SERVICES,
        verified: bool = True,
    ) -> Domain:
        """A domain someone added to the tenant elsewhere, long ago: verified, with the services
        an admin center leaves on (Email, Teams, Intune), known to Exchange. Graph cannot remove
        its services other than Email, OfficeCommunicationsOnline and Yammer."""
        with self.lock:
            tenant = self.tenants[tenant_id]
            domain = self.new_domain(name.lower())
            domain.is_verified = verified
            domain.supported_services = list(services)
            domain.email_enabled_at = 0.0 if verified and "Email" in services else None
            domain.locked_services = [s for s in services if s not in SETTABLE_SERVICES]
            tenant.domains[domain.name] = domain
            return domain

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    # --- lookups -------------------------------------------------------------------------
    def find_tenant(self, key: str) -> Tenant | None:
        """By GUID, by initial domain, or by any verified domain (as login accepts)."""
        key = key.lower()
        if key in self.tenants:
            return self.tenants[key]
        for tenant in self.tenants.values():
            domain = tenant.domains.get(key)
            if domain is not None and domain.is_verified:
                return tenant
        return None

    def verified_elsewhere(self, domain: str, tenant_id: str) -> Tenant | None:
        for tenant in self.tenants.values():
            found = tenant.domains.get(domain)
            if tenant.id != tenant_id and found is not None and found.is_verified:
                return tenant
        return None

    def verified_parent(self, tenant: Tenant, name: str) -> str | None:
        """The tenant's verified domain `name` is a subdomain of, if any (nearest first)."""
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            parent = tenant.domains.get(".".join(labels[i:]))
            if parent is not None and parent.is_verified and not parent.is_initial:
                return parent.name
        return None

    def consent_effective(self, consent: Consent | None) -> bool:
        """Tokens are issued: consent given, not revoked, and replicated to the token service."""
        return (
            consent is not None and not consent.revoked and time.time() >= consent.granted_at + self.profile.consent_lag
        )

    def accepted(self, tenant: Tenant, domain: str) -> bool:
        """Exchange knows a domain once it is verified with the Email service, after the lag
        (a longer one when verify scheduled a takeover)."""
        found = tenant.domains.get(domain)
        if found is None or not found.is_verified or found.email_enabled_at is None:
            return False
        lag = self.accepted_lag
        if found.takeover:
            lag = max(lag, self.profile.takeover_accepted_lag)
        return time.time() >= found.email_enabled_at + lag

    # --- Entra replication ---------------------------------------------------------------
    def before_write(self, tenant: Tenant, name: str) -> None:
        """Call before changing or creating a domain: Graph's replicas keep serving the version
        before the first write of a burst until `replication_lag` after the last one."""
        lag = self.profile.replication_lag
        if lag <= 0:
            return
        now = time.time()
        with self.lock:
            held = tenant.stale.get(name)
            if held is None or now >= held.until:
                held = Stale(copy.deepcopy(tenant.domains.get(name)), 0.0)
            held.until = now + lag
            tenant.stale[name] = held

    def graph_view(self, tenant: Tenant, name: str) -> Domain | None:
        """The domain as a Graph read sees it: a replica's stale copy, None while it is new."""
        held = tenant.stale.get(name)
        if held is not None and time.time() < held.until:
            return held.previous
        return tenant.domains.get(name)

    def graph_domains(self, tenant: Tenant) -> list[Domain]:
        """Every domain a Graph list sees: a new one may be missing, a changed one stale."""
        names = set(tenant.domains) | set(tenant.stale)
        views = (self.graph_view(tenant, name) for name in names)
        return [d for d in views if d is not None and d.name in tenant.domains]

    # --- throttling ----------------------------------------------------------------------
    def spend(self, client_id: str, tenant_id: str, units: float = 1.0) -> float | None:
        """Take resource units from the app+tenant bucket. None when granted, else the seconds
        until the bucket holds enough (it refills continuously, `throttle_ru_per_10s` per 10 s)."""
        capacity = self.profile.throttle_ru_per_10s
        if capacity <= 0:
            return None
        rate = capacity / 10.0
        now = time.monotonic()
        with self.lock:
            bucket = self.buckets.setdefault((client_id, tenant_id), Bucket(capacity, now))
            bucket.units = min(capacity, bucket.units + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.units >= units:
                bucket.units -= units
                return None
            return (units - bucket.units) / rate

    def usage(self, client_id: str, tenant_id: str) -> float:
        """The share of the bucket spent, 0..1."""
        capacity = self.profile.throttle_ru_per_10s
        bucket = self.buckets.get((client_id, tenant_id))
        if capacity <= 0 or bucket is None:
            return 0.0
        return 1.0 - bucket.units / capacity

    def chance(self, probability: float) -> bool:
        """True with `probability`, from the seeded RNG (never drawn when it is 0)."""
        with self.lock:
            return probability > 0 and self._random.random() < probability

    # --- Exchange ------------------------------------------------------------------------
    def preexisting_dkim(self, tenant: Tenant) -> None:
        """Exchange made a disabled DKIM config (CnameMissing) for each custom domain it
        accepted, as D1 says it may: New-DkimSigningConfig then finds one already there."""
        if not self.profile.dkim_preexisting:
            return
        with self.lock:
            for name in list(tenant.domains):
                if name in tenant.dkim or name.endswith(".onmicrosoft.com") or not self.accepted(tenant, name):
                    continue
                config = self.new_dkim(tenant, name)
                config.key_size = 2048  # [INF] the size Microsoft's own configs use
                tenant.dkim[name] = config

    def dkim_config(self, tenant: Tenant, name: str) -> DkimConfig | None:
        """The config as Get/Set see it: not there until its keys are made."""
        config = tenant.dkim.get(name)
        if config is None or time.time() < config.ready_at:
            return None
        return config

    def exchange_sees_cnames(self, config: DkimConfig, published: bool) -> bool:
        """Exchange's own DNS view: the CNAMEs count once visible for `cname_sync_lag` seconds
        since Exchange first saw them. [INF] The emulator looks only when asked, so the clock
        starts at the first check that finds them."""
        now = time.time()
        with self.lock:
            if not published:
                config.cnames_seen_at = None
                return False
            if config.cnames_seen_at is None:
                config.cnames_seen_at = now
            return now >= config.cnames_seen_at + self.profile.cname_sync_lag

    # --- call bookkeeping ----------------------------------------------------------------
    def take_fault(self, service: Service, target: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count != 0 and fault.service in ("*", service) and fault.match in target:
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
        return None

    def record(
        self,
        service: Service,
        method: str,
        target: str,
        tenant: str | None,
        status: int,
        client_request_id: str | None = None,
    ) -> None:
        with self.lock:
            self.calls.append(CallRecord(service, method, target, tenant, status, client_request_id))

    def enter(self, tenant: str) -> None:
        with self.lock:
            self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
            self.peak_in_flight[tenant] = max(self.peak_in_flight.get(tenant, 0), self.in_flight[tenant])

    def leave(self, tenant: str) -> None:
        with self.lock:
            self.in_flight[tenant] -= 1

    # --- persistence (the sandbox keeps its Microsoft across restarts) -------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "apps": [
                    {
                        "client_id": a.client_id,
                        "name": a.name,
                        "secrets": sorted(a.secrets),
                        "certificates": a.certificates,
                    }
                    for a in self.apps.values()
                ],
                "tenants": [
                    {
                        "id": t.id,
                        "initial_domain": t.initial_domain,
                        "display_name": t.display_name,
                        "domains": [asdict(d) for d in t.domains.values()],
                        "dkim": [asdict(c) for c in t.dkim.values()],
                        "consents": {
                            k: {**asdict(c), "graph_roles": sorted(c.graph_roles)} for k, c in t.consents.items()
                        },
                    }
                    for t in self.tenants.values()
                ],
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            for app in data.get("apps", []):
                self.apps[app["client_id"]] = App(
                    app["client_id"], app["name"], set(app["secrets"]), dict(app["certificates"])
                )
            for item in data.get("tenants", []):
                tenant = Tenant(item["id"], item["initial_domain"], item["display_name"])
                tenant.domains = {d["name"]: Domain(**d) for d in item["domains"]}
                tenant.dkim = {c["domain"]: DkimConfig(**c) for c in item["dkim"]}
                tenant.consents = {
                    k: Consent(**{**c, "graph_roles": set(c["graph_roles"])}) for k, c in item["consents"].items()
                }
                self.tenants[tenant.id] = tenant

    # --- what Microsoft issues -----------------------------------------------------------
    def _code(self) -> str:
        return "ms" + "".join(self._random.choice(string.digits) for _ in range(8))

    def _letter(self) -> str:
        return self._random.choice("abnqrwy")

    def _mixed_case(self, prefix: str) -> str:
        """A prefix as admins type them (`AnhLe267`, `ContosoCorp`): the case kept, here drawn."""
        chars = [c.upper() if self._random.random() < 0.5 else c.lower() for c in prefix]
        letters = [i for i, c in enumerate(chars) if c.isalpha()]
        if len(letters) >= 2:  # surely mixed: upper first letter, lower last
            chars[letters[0]] = chars[letters[0]].upper()
            chars[letters[-1]] = chars[letters[-1]].lower()
        return "".join(chars)

    def _token(self, domain: str) -> str:
        """The MX/DKIM token as seen in the wild: hyphens inside labels dropped, dots as dashes,
        and often a short suffix (`jasonshadow-com01c`, `findchild...-gov-uk01be2e`)."""
        if not self.profile.names_in_the_wild:
            return ""
        token = "-".join(label.replace("-", "") for label in domain.split("."))
        if token != dashes(domain) or self._random.random() < 0.5:
            tail = self._random.choice(string.ascii_lowercase)
            if self._random.random() < 0.3:
                tail = "".join(self._random.choice("0123456789abcdef") for _ in range(4))
            token += f"0{self._random.choice('1234')}{tail}"
        return token

    def _mx(self, domain: str, token: str = "") -> str:
        token = token or dashes(domain)
        legacy = self.mx_format == "legacy"
        if self.profile.names_in_the_wild:
            legacy = self._random.random() < 0.5  # both forms live side by side in one tenant
        if legacy:
            return f"{one_label(token)}.mail.protection.outlook.com"
        return f"{one_label(token)}.{self._letter()}-v1.mx.microsoft"

    def new_domain(self, name: str) -> Domain:
        token = self._token(name)
        return Domain(name, self._code(), self._mx(name, token), token=token)

    def new_dkim(self, tenant: Tenant, domain: str) -> DkimConfig:
        found = tenant.domains.get(domain)
        token = found.mx_token if found is not None else dashes(domain)
        old = self.dkim_format == "old"
        if self.profile.names_in_the_wild:
            old = self._random.random() < 0.5  # old-format domains stay old; new ones get the new form
        # New format: one partition character per domain, the same for both selectors.
        suffix = tenant.initial_domain if old else f"{tenant.prefix}.{self._letter()}-v1.dkim.mail.microsoft"
        return DkimConfig(
            domain,
            f"{one_label(f'selector1-{token}')}._domainkey.{suffix}",
            f"{one_label(f'selector2-{token}')}._domainkey.{suffix}",
        )
