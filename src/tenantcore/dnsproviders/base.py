"""The interface every DNS provider implements: read and write whole record sets.

Record sets, not records: Microsoft 365 asks for exact sets (one MX, one SPF TXT beside others),
and "make this name hold exactly these values" is what a retry can repeat safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tenantcore.dnshealth.names import normalize

RTYPES = ("TXT", "MX", "CNAME")

ERROR_CODES = (
    "provider_auth_failed",
    "provider_unreachable",
    "zone_not_found",
    "provider_refused",
    "provider_config_invalid",
)


@dataclass(frozen=True, slots=True)
class RecordSet:
    name: str  # absolute, lower case, no trailing dot
    rtype: str  # "TXT" | "MX" | "CNAME"
    # TXT: the text as one string (character-strings joined, no quotes); MX: "10 host" (host lower
    # case, no trailing dot); CNAME: target host, lower case, no trailing dot.
    values: tuple[str, ...]
    ttl: int = 3600

    @property
    def label(self) -> str:
        """ "NAME TYPE", as error messages name the record set."""
        return f"{self.name} {self.rtype}"


class ProviderError(Exception):
    """A provider call failed. `message` says why for people and never holds a credential;
    `record` is "NAME TYPE" of the record set that failed, when one did."""

    def __init__(self, code: str, message: str, record: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown provider error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.record = record

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@runtime_checkable
class DnsProvider(Protocol):
    kind: str

    async def find_zone(self, name: str) -> str | None:
        """The longest zone at this provider that holds `name` (None: none)."""
        ...

    async def read(self, zone: str, name: str) -> list[RecordSet]:
        """The TXT/MX/CNAME record sets at `name` ([] if none)."""
        ...

    async def replace(self, zone: str, rrset: RecordSet) -> None:
        """Make (name, rtype) hold exactly rrset.values (create or update)."""
        ...

    async def delete(self, zone: str, name: str, rtype: str) -> None:
        """Remove that record set; absent: no-op."""
        ...

    async def change(self, zone: str, rrset: RecordSet, before: tuple[str, ...]) -> None:
        """Take the record set from `before` (what was read when the change was planned) to
        `rrset.values`: remove the values that went, add the ones that came, and leave alone
        any value someone else added meanwhile (never a blind overwrite)."""
        ...

    async def check_write(self, zone: str) -> None:
        """Prove the credentials may change `zone`, changing nothing."""
        ...

    async def aclose(self) -> None: ...


def normalize_value(rtype: str, value: str) -> str:
    """A value in RecordSet form: host names lower case without the trailing dot."""
    if rtype == "CNAME":
        return normalize(value)
    if rtype == "MX":
        preference, _, host = value.strip().partition(" ")
        return f"{int(preference)} {normalize(host)}"
    return value


def check_rtype(rtype: str, record: str) -> str:
    rtype = rtype.upper()
    if rtype not in RTYPES:
        raise ProviderError(
            "provider_refused", f"record type {rtype} is not supported (only {', '.join(RTYPES)})", record
        )
    return rtype


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every credential value in `secrets` (an iterable of strings) blanked: library
    messages can echo URLs or headers, and ours must never carry a credential."""
    for secret in secrets:
        if len(secret) >= 4:  # blanking "a" everywhere would garble the message, not protect it
            text = text.replace(secret, "***")
    return text
