"""Where Microsoft is and how TenantCore's multi-tenant Entra app signs in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Resource(StrEnum):
    """The two APIs TenantCore calls; each needs its own token (one resource per token)."""

    GRAPH = "https://graph.microsoft.com"
    EXCHANGE = "https://outlook.office365.com"

    @property
    def scope(self) -> str:
        return f"{self.value}/.default"

    @property
    def app_role(self) -> str | None:
        """The application permission a token must carry for this API to accept the app
        (Graph's several alternatives are not checked here)."""
        return "Exchange.ManageAsApp" if self is Resource.EXCHANGE else None


@dataclass(frozen=True)
class Certificate:
    """A certificate credential: the PEM private key and the certificate's SHA-1 thumbprint."""

    private_key_pem: str
    thumbprint: str
    public_certificate_pem: str | None = None  # sent as x5c, for subject-name/issuer auth


@dataclass(frozen=True)
class Endpoints:
    """The real Microsoft hosts. The emulator answers for these same URLs: a routing transport
    sends them to it, so the clients never know the difference (see `transport.py`)."""

    login: str = "https://login.microsoftonline.com"
    graph: str = "https://graph.microsoft.com/v1.0"
    exchange: str = "https://outlook.office365.com/adminapi/beta"


@dataclass(frozen=True)
class MicrosoftConfig:
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate: Certificate | None = field(default=None, repr=False)
    endpoints: Endpoints = Endpoints()
    timeout: float = 30.0  # seconds per HTTP attempt
    max_attempts: int = 6  # per call, retries included
    max_retry_seconds: float = 60.0  # total time a call may spend waiting to retry
    # Right after a write, Graph's replicas may not have it yet (reported up to ~2 minutes): a
    # 404 or a stale refusal then is retried with backoff for this long.
    replication_wait: float = 30.0
    backoff_base: float = 0.5  # first backoff without Retry-After, doubled each attempt
    backoff_cap: float = 16.0
    per_tenant_concurrency: int = 4  # Microsoft calls in flight per tenant

    def __post_init__(self) -> None:
        if (self.client_secret is None) == (self.certificate is None):
            raise ValueError("give exactly one of client_secret and certificate")
