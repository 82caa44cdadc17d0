"""Settings: every one comes from a `TENANTCORE_*` environment variable (or a CLI flag)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tenantcore.dnshealth.blocklists import DEFAULT_BLOCKLISTS, parse_blocklists

_OFF = ("", "off", "none", "false", "0", "[]")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENANTCORE_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("data"), description="SQLite file, sandbox state and the server secret live here.")
    database_url: str | None = Field(
        None, description="Default: SQLite in data_dir. PostgreSQL: postgresql+asyncpg://…"
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        le=200,
        description="PostgreSQL connections a process keeps for its work (the domain list's own pool and "
        "listener add up to 9): size it so processes x (this + 9) stays under the server's max_connections.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(None, description="How browsers reach this server (consent redirect).")
    secret_key: SecretStr | None = Field(None, description="HMAC key for API keys; default: generated in data_dir.")

    # Observability: GET /metrics and the log format.
    metrics_token: SecretStr | None = Field(
        None,
        description="When set, GET /metrics wants `Authorization: Bearer <token>`; unset, it is open to whoever "
        "reaches the server (127.0.0.1 by default).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object a line (time, level, logger, message, request_id, exception)."
    )

    domain_limit: int = Field(12, description="Domains per tenant.")
    tenant_limit: int = Field(25, description="Tenants per account (402 tenant_limit_reached beyond).")
    max_body_bytes: int = 64 * 1024

    # Abuse: rate limits (tenantcore.ratelimit) and slow clients (tenantcore.server).
    rate_limit: float = Field(
        100.0, ge=0, description="Requests a second per API key, shared by every process on one PostgreSQL; 0: off."
    )
    rate_limit_burst: int = Field(
        500, ge=1, description="Requests an API key may make at once (the bucket's size: a sweep over 500 tenants)."
    )
    auth_failure_limit: int = Field(
        10, ge=0, description="Failed authentications (API or sign-in form) per client address per window; 0: off."
    )
    auth_failure_window: float = Field(60.0, gt=0, description="Seconds in which auth_failure_limit failures refill.")
    header_timeout: float = Field(10.0, gt=0, description="Seconds a client has to send a request's headers.")
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a client has to send a request's body (408 request_timeout beyond)."
    )
    keep_alive_timeout: float = Field(5.0, gt=0, description="Seconds an idle keep-alive connection is kept open.")

    # The reconciler (tenantcore.worker): embedded in `serve`, or `tenantcore worker` processes.
    worker: bool = Field(True, description="Run a worker inside `tenantcore serve`.")
    check_interval: float = Field(900.0, description="Seconds between DNS checks of a domain.")
    dmarc_rua: str | None = Field(
        None,
        description="Address DMARC aggregate reports go to in the DMARC records TenantCore recommends and publishes "
        "(a mailbox you read, or a DMARC report service); unset: the recommended record has no rua=.",
    )
    dns_grace: float = Field(
        3600.0,
        ge=0,
        description="Seconds a new domain's unpublished records read as 'awaiting DNS' in the app, not as a problem.",
    )
    worker_batch: int = Field(500, description="Domains a worker claims at a time.")
    worker_lease: float = Field(
        30.0, gt=0, description="Seconds a claim holds unless renewed; a running batch renews it every third of that."
    )
    worker_idle: float = Field(2.0, description="Seconds a worker sleeps when nothing is due.")
    worker_pipelines: int = Field(2, ge=1, description="Batches a worker process has in flight at once.")
    followup_verify: bool = Field(True, description="Verify domains whose TXT has become visible.")
    followup_dkim: bool = Field(True, description="Create DKIM keys for verified domains, enable once CNAMEs show.")
    followup_backoff: float = Field(
        60.0, description="First wait after a failed follow-up on the same evidence; doubles, capped at 6 h."
    )
    onboarding_poll: float = Field(
        5.0,
        gt=0,
        description="Seconds between DNS checks of a domain a DNS provider is onboarding (until DKIM is on); "
        "grows with the domain's age to check_interval.",
    )
    exchange_probe_interval: float = Field(
        300.0, gt=0, description="Seconds between asks of a tenant whose Exchange refused the app (role missing)."
    )
    reservation_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds after which an add that never finished (a crash) is settled against Microsoft: "
        "adopted if Microsoft has the domain, released if not. Longer than the longest Microsoft call.",
    )

    consent_wait: float = Field(
        60.0,
        ge=0,
        description="Seconds a connect right after admin consent keeps retrying while Microsoft's token "
        "service has not seen the consent yet (AADSTS7000229).",
    )

    # Live mode: the operator's multi-tenant Entra app.
    webhook_allow_private: bool = Field(
        False,
        description="Let webhooks (live and test keys) reach loopback, private and link-local addresses "
        "(refused: SSRF). Test keys reach loopback anyway on a local sandbox (`local_sandbox`).",
    )
    dns_provider_allow_private: bool = Field(
        False, description="Let DNS providers' servers be loopback/private addresses (refused: SSRF)."
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds a webhook delivery attempt may take: name lookup, connecting, the answer."
    )
    webhook_retry_for: float = Field(
        3 * 86400.0, gt=0, description="Seconds a delivery is retried (exponential backoff, jitter) before it fails."
    )
    webhook_disable_after: float = Field(
        3 * 86400.0, gt=0, description="An endpoint failing this long with no success is disabled (with an event)."
    )
    webhook_backoff: float = Field(5.0, gt=0, description="First wait after a failed delivery; doubles, capped at 6 h.")
    webhook_poll: float = Field(0.5, gt=0, description="Seconds between looks at the webhook outbox when idle.")
    webhook_lease: float = Field(
        60.0, gt=0, description="Seconds a worker holds a delivery unless renewed (a dead worker's come back after it)."
    )
    webhook_concurrency: int = Field(
        4, ge=1, description="Deliveries in flight per endpoint (a slow receiver holds only its own)."
    )
    ms_client_id: str | None = None
    ms_client_secret: SecretStr | None = None
    dns_nameservers: list[str] = Field(default_factory=list, description="Live DNS resolvers; default: system.")
    dns_concurrency: int = Field(500, description="DNS queries in flight per process.")
    dns_timeout: float = Field(2.0, gt=0, description="Seconds a live DNS try waits; c-ares doubles it on each retry.")
    dns_tries: int = Field(3, ge=1, description="Tries per live DNS query before it counts as a timeout (unknown).")
    blocklists: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKLISTS),
        description="Domain blocklists every live domain is looked up on, comma-separated `ZONE` or `KIND:ZONE` "
        "(KIND: spamhaus, surbl, uribl, rhsbl); `off` for none.",
    )
    spamhaus_dqs_key: SecretStr | None = Field(
        None,
        description="Spamhaus Data Query Service key: Spamhaus DBL is then asked at <key>.dbl.dq.spamhaus.net "
        "(the public dbl.spamhaus.org refuses public resolvers).",
    )

    # Sandbox mode: the in-process emulator and DNS server.
    sandbox: bool = True
    sandbox_dns_port: int = 0  # 0: any free loopback port
    sandbox_emulator_port: int = 0
    sandbox_emulator_token: SecretStr | None = Field(
        None,
        description="What the emulator's /_emulator control endpoints take in X-Emulator-Token; default: a new "
        "random one at each start, in data_dir/sandbox/emulator-token (0600).",
    )
    sandbox_dns_delegations: dict[str, str] = Field(
        default_factory=dict,
        description='Zones the sandbox DNS passes on to another server, e.g. {"example.test": "127.0.0.1:5353"}: '
        "test domains published through a real provider are seen by the emulator and the checks.",
    )
    sandbox_profile: Literal["instant", "realistic"] = Field(
        "instant",
        description="How real the emulated Microsoft is: instant, or realistic (replication lag, throttling, "
        "pre-existing objects, irregular names; see the README).",
    )
    # Per-knob overrides of the profile (unset: the profile's value), TENANTCORE_SANDBOX_<KNOB>.
    sandbox_accepted_lag: float | None = None
    sandbox_replication_lag: float | None = None
    sandbox_consent_lag: float | None = None
    sandbox_exchange_role_lag: float | None = None
    sandbox_takeover_accepted_lag: float | None = None
    sandbox_dkim_key_delay: float | None = None
    sandbox_cname_sync_lag: float | None = None
    sandbox_token_lifetime: int | None = None
    sandbox_throttle_ru_per_10s: int | None = None
    sandbox_latency: float | None = Field(None, ge=0)
    blocklist_interval: float = Field(
        3600.0,
        ge=0,
        description="Seconds the reconciler reuses a domain's blocklist verdicts before asking the lists again "
        "(an unknown verdict is asked again at the next check; API-triggered checks always ask).",
    )
    sandbox_blocklists: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Domain blocklists for test-mode domains, as TENANTCORE_BLOCKLISTS; none by default (the "
        "sandbox DNS serves no blocklist zone: delegate test zones with TENANTCORE_SANDBOX_DNS_DELEGATIONS).",
    )

    @field_validator("blocklists", "sandbox_blocklists", mode="before")
    @classmethod
    def _blocklist_entries(cls, value: Any) -> Any:
        """A comma- (or space-) separated string, a JSON list, or `off`; each entry parsed
        (a bad zone or kind fails at start-up, not at the first check)."""
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in _OFF:
                return []
            if text.startswith("["):
                import json

                value = json.loads(text)
            else:
                value = [part for part in text.replace(",", " ").split() if part]
        if isinstance(value, list | tuple):
            parse_blocklists(str(v) for v in value)  # raises ValueError: a validation error
            return [str(v).strip() for v in value if str(v).strip()]
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None  # empty: unset

    @field_validator("spamhaus_dqs_key")
    @classmethod
    def _dqs_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_blocklists((), value.get_secret_value())  # one DNS label, or a validation error
        return value

    def blocklists_for(self, mode: str) -> tuple[Any, ...]:
        """The parsed lists (`dnshealth.blocklists.Blocklist`) for live or test mode, the DQS key applied."""
        key = self.spamhaus_dqs_key.get_secret_value() if self.spamhaus_dqs_key else None
        return parse_blocklists(self.sandbox_blocklists if mode == "test" else self.blocklists, key)

    @property
    def local_sandbox(self) -> bool:
        """This server is someone's own sandbox, not a shared one: the sandbox runs, the API
        listens on loopback only and no other address is given out (TENANTCORE_PUBLIC_URL unset
        or loopback). Only then may test keys point webhooks at this machine's loopback: on a
        server others reach, any account's test key could otherwise probe its local ports."""
        public = urlsplit(self.public_url).hostname if self.public_url else self.host
        return self.sandbox and _loopback(self.host) and _loopback(public or "")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'tenantcore.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
