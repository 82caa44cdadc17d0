"""The one interface every DNS provider speaks (placeholder until the providers branch lands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

RTYPES = ("TXT", "MX", "CNAME")


@dataclass(frozen=True, slots=True)
class RecordSet:
    name: str
    rtype: str
    values: tuple[str, ...]
    ttl: int = 3600


class ProviderError(Exception):
    def __init__(self, code: str, message: str, record: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.record = code, message, record


class DnsProvider(Protocol):
    kind: str

    async def find_zone(self, name: str) -> str | None: ...

    async def read(self, zone: str, name: str) -> list[RecordSet]: ...

    async def replace(self, zone: str, rrset: RecordSet) -> None: ...

    async def delete(self, zone: str, name: str, rtype: str) -> None: ...

    async def aclose(self) -> None: ...
