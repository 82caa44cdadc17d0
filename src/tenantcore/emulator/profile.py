"""How real the emulated Microsoft is: one frozen set of knobs, chosen by name.

`instant` is the emulator as it always was: every write is visible at once, nothing is
throttled, names are regular. `realistic` turns on what real tenants do to a client (see
`../shared/reference/microsoft-365-audit.md` §3): replication lag, pre-existing objects,
asynchronous keys, throttling, irregular names. Every delay is its own knob, so a test can
set one to a tenth of a second and leave the others at zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

ProfileName = Literal["instant", "realistic"]
NEVER = math.inf  # a lag that never ends: the event waits for a test (or an admin) to make it happen


@dataclass(frozen=True)
class EmulatorProfile:
    name: str = "instant"

    # --- Entra (login and Graph) -----------------------------------------------------------
    replication_lag: float = 0.0  # s a created/changed domain reads as its previous version (404 when new)
    consent_lag: float = 0.0  # s after consent during which tokens fail with AADSTS7000229
    exchange_role_lag: float = 0.0  # s after consent until the admin assigns the Exchange role; NEVER: by hand
    token_lifetime: int = 3599  # s an access token lives
    mail_onmicrosoft: bool = False  # every tenant also has <prefix>.mail.onmicrosoft.com
    subdomains_auto_verify: bool = False  # a subdomain of a verified domain is verified on create, isRoot false
    records_follow_services: bool = False  # serviceConfigurationRecords: by supportedServices, none unverified
    takeover_domains: frozenset[str] = frozenset()  # verify answers EmailVerifiedDomainTakeoverScheduled
    takeover_rate: float = 0.0  # ... or with this probability (the state's seeded RNG)
    domain_quota: int = 0  # domains per tenant; 0: no limit
    throttle_ru_per_10s: int = 0  # Graph resource units per app+tenant per 10 s; 0: never throttled
    throttle_no_retry_after: float = 0.0  # share of throttled answers without Retry-After
    throttle_503: float = 0.0  # share of throttled answers that are 503 instead of 429

    # --- Exchange ---------------------------------------------------------------------------
    accepted_lag: float = 0.0  # s after verify + Email until Exchange accepts the domain
    takeover_accepted_lag: float = 0.0  # the same, for a domain whose verify scheduled a takeover
    exchange_auth_401: bool = False  # no Exchange.ManageAsApp in the token: 401 (else the 403 of no role)
    dkim_preexisting: bool = False  # an accepted domain already has a CnameMissing DKIM config
    dkim_key_delay: float = 0.0  # s after New-DkimSigningConfig before Get/Set find the config
    cname_sync_lag: float = 0.0  # s Exchange's view of the DKIM CNAMEs trails public DNS
    dkim_status_follows_dns: bool = False  # Get: an enabled config whose CNAMEs went reads CnameMissing
    exchange_result_size: int = 0  # rows before a result is truncated with a warning; 0: never

    # --- names and the network ---------------------------------------------------------------
    names_in_the_wild: bool = False  # suffixed MX/DKIM tokens, mixed formats, mixed-case prefixes
    complete_abandoned: bool = False  # a write whose client gave up (timeout) still completes
    latency: float = 0.0  # s added to every login, Graph and Exchange request (a network away); 0 in both profiles

    @classmethod
    def instant(cls) -> EmulatorProfile:
        """Today's emulator: everything immediate, regular and unthrottled."""
        return cls()

    @classmethod
    def realistic(cls) -> EmulatorProfile:
        """Everything on, with delays short enough for a sandbox session (real ones run to
        minutes: Entra replication up to about 2 min, DNS sync up to days)."""
        return cls(
            name="realistic",
            replication_lag=5.0,
            consent_lag=10.0,
            exchange_role_lag=30.0,
            # Entra's shortest configurable lifetime; msal renews a token with < 5 min left,
            # so this makes a client renew every 5 minutes.
            token_lifetime=600,
            mail_onmicrosoft=True,
            subdomains_auto_verify=True,
            records_follow_services=True,
            takeover_rate=0.02,
            domain_quota=5000,
            throttle_ru_per_10s=300,
            throttle_no_retry_after=0.2,
            throttle_503=0.1,
            accepted_lag=20.0,
            takeover_accepted_lag=120.0,
            exchange_auth_401=True,
            dkim_preexisting=True,
            dkim_key_delay=5.0,
            cname_sync_lag=10.0,
            dkim_status_follows_dns=True,
            exchange_result_size=1000,
            names_in_the_wild=True,
            complete_abandoned=True,
        )

    @classmethod
    def named(cls, name: str) -> EmulatorProfile:
        if name == "instant":
            return cls.instant()
        if name == "realistic":
            return cls.realistic()
        raise ValueError(f"emulator profile must be instant or realistic, not {name!r}")

    def with_(self, **knobs: Any) -> EmulatorProfile:
        """A copy with some knobs changed (unknown names raise TypeError)."""
        if "takeover_domains" in knobs:
            knobs["takeover_domains"] = frozenset(d.lower() for d in knobs["takeover_domains"])
        return replace(self, **knobs)

    @classmethod
    def knobs(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "name"]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NEVER reads "never")."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, float) and math.isinf(value):
                value = "never"
            out[f.name] = value
        return out
