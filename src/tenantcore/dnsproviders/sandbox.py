"""The sandbox's zones (`tenantcore.sandbox.dns_server.ZoneStore`) as a DNS provider, so the
sandbox publishes records through the same interface as a real provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from tenantcore.dnshealth.names import normalize
from tenantcore.dnsproviders.base import RTYPES, ProviderError, RecordSet, check_rtype, normalize_value


class StoredRecordLike(Protocol):
    @property
    def rtype(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def ttl(self) -> int: ...


class ZoneStoreLike(Protocol):
    def zone_of(self, name: str) -> str | None: ...
    def records(self, name: str) -> list[StoredRecordLike]: ...
    def set(self, name: str, rtype: str, values: Iterable[str], ttl: int = 3600) -> None: ...
    def delete(self, name: str, rtype: str | None = None) -> None: ...


class SandboxProvider:
    kind = "sandbox"

    def __init__(self, store: ZoneStoreLike, on_change: Callable[[], None] | None = None) -> None:
        self.store = store
        self._on_change = on_change  # the sandbox persists its zones with it

    def __repr__(self) -> str:
        return f"SandboxProvider(zones={len(getattr(self.store, 'zones', list)())})"

    async def find_zone(self, name: str) -> str | None:
        return self.store.zone_of(name)

    async def read(self, zone: str, name: str) -> list[RecordSet]:
        self._check_zone(zone, normalize(name), None)
        records = self.store.records(name)
        result = []
        for rtype in RTYPES:
            matching = [r for r in records if r.rtype == rtype]
            if matching:
                values = tuple(normalize_value(rtype, r.value) for r in matching)
                result.append(RecordSet(normalize(name), rtype, values, matching[0].ttl))
        return result

    async def replace(self, zone: str, rrset: RecordSet) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        self._check_zone(zone, normalize(rrset.name), rrset.label)
        self.store.set(rrset.name, rtype, rrset.values, rrset.ttl)
        self._changed()

    async def change(self, zone: str, rrset: RecordSet, before: tuple[str, ...]) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        self._check_zone(zone, normalize(rrset.name), rrset.label)
        gone = {normalize_value(rtype, v) for v in before} - {normalize_value(rtype, v) for v in rrset.values}
        now = [r for r in await self.read(zone, rrset.name) if r.rtype == rtype]
        kept = [v for r in now for v in r.values if normalize_value(rtype, v) not in gone]
        kept += [v for v in rrset.values if normalize_value(rtype, v) not in {normalize_value(rtype, k) for k in kept}]
        self.store.set(rrset.name, rtype, kept, rrset.ttl)
        self._changed()

    async def delete(self, zone: str, name: str, rtype: str) -> None:
        record = f"{normalize(name)} {rtype.upper()}"
        rtype = check_rtype(rtype, record)
        self._check_zone(zone, normalize(name), record)
        self.store.delete(name, rtype)
        self._changed()

    async def check_write(self, zone: str) -> None:
        return None  # the sandbox has no credentials

    async def aclose(self) -> None:
        return None

    def _check_zone(self, zone: str, name: str, record: str | None) -> None:
        # The store would create a zone for a name it does not hold; a provider must not.
        held = self.store.zone_of(name)
        if held is None or held != normalize(zone):
            raise ProviderError(
                "zone_not_found", f"the sandbox holds no zone {normalize(zone)} containing {name}", record
            )

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
