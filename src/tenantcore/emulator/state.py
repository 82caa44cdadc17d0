"""The emulator's world: apps, tenants, their domains and DKIM configs, and injected faults.

Shapes and behaviour follow `../shared/reference/microsoft-365.md`. Where the reference marks
a behaviour as inferred, the emulator picks the plausible one and says so in a comment.
"""

from __future__ import annotations

import random
import secrets
import string
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

GRAPH_AUDIENCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
DEFAULT_GRAPH_ROLES = frozenset({"Domain.ReadWrite.All"})

Service = Literal["login", "graph", "exchange"]


def dashes(domain: str) -> str:
    return domain.replace(".", "-")


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


@dataclass
class DkimConfig:
    domain: str
    selector1_cname: str
    selector2_cname: str
    key_size: int = 2048
    enabled: bool = False
    created: float = field(default_factory=time.time)

    @property
    def status(self) -> str:
        return "Valid" if self.enabled else "CnameMissing"


@dataclass
class Tenant:
    id: str
    initial_domain: str
    display_name: str
    domains: dict[str, Domain] = field(default_factory=dict)
    dkim: dict[str, DkimConfig] = field(default_factory=dict)
    consents: dict[str, Consent] = field(default_factory=dict)
    token_requests: int = 0

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
        accepted_lag: float = 0.0,
        page_size: int = 100,
        dkim_format: Literal["new", "old"] = "new",
        mx_format: Literal["new", "legacy"] = "new",
        token_lifetime: int = 3599,
        seed: int | None = None,
    ) -> None:
        self.accepted_lag = accepted_lag
        self.page_size = page_size
        self.dkim_format = dkim_format
        self.mx_format = mx_format
        self.token_lifetime = token_lifetime
        self.signing_key = secrets.token_bytes(32)
        self.apps: dict[str, App] = {}
        self.tenants: dict[str, Tenant] = {}
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        self.in_flight: dict[str, int] = {}  # Graph requests being served, per tenant
        self.peak_in_flight: dict[str, int] = {}
        self.lock = threading.RLock()  # tests and the sandbox change state from other threads
        self._random = random.Random(seed)

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
            self.tenants[tenant.id] = tenant
            if consent_app:
                self.consent(tenant.id, consent_app)
            return tenant

    def consent(self, tenant_id: str, client_id: str, consent: Consent | None = None) -> None:
        with self.lock:
            self.tenants[tenant_id].consents[client_id] = consent or Consent()

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

    def accepted(self, tenant: Tenant, domain: str) -> bool:
        """Exchange knows a domain once it is verified with the Email service, after the lag."""
        found = tenant.domains.get(domain)
        return (
            found is not None
            and found.is_verified
            and found.email_enabled_at is not None
            and time.time() >= found.email_enabled_at + self.accepted_lag
        )

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

    def _mx(self, domain: str) -> str:
        if self.mx_format == "legacy":
            return f"{dashes(domain)}.mail.protection.outlook.com"
        return f"{dashes(domain)}.{self._letter()}-v1.mx.microsoft"

    def new_domain(self, name: str) -> Domain:
        return Domain(name, self._code(), self._mx(name))

    def new_dkim(self, tenant: Tenant, domain: str) -> DkimConfig:
        if self.dkim_format == "old":
            suffix = tenant.initial_domain
        else:
            # One partition character per domain, the same for both selectors.
            suffix = f"{tenant.prefix}.{self._letter()}-v1.dkim.mail.microsoft"
        return DkimConfig(
            domain,
            f"selector1-{dashes(domain)}._domainkey.{suffix}",
            f"selector2-{dashes(domain)}._domainkey.{suffix}",
        )
