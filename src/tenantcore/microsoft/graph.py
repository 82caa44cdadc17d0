"""Microsoft Graph v1.0 domains: create, read, list, delete, DNS records, verify."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from tenantcore.microsoft.config import Resource
from tenantcore.microsoft.errors import DomainNotFound, DomainNotReplicated, graph_error
from tenantcore.microsoft.http import MicrosoftHttp

T = TypeVar("T")
StillWanted = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class GraphDomain:
    """The fields of Graph's `domain` resource that TenantCore uses."""

    id: str
    is_verified: bool
    is_default: bool
    is_initial: bool
    supported_services: tuple[str, ...]
    availability_status: str | None = None

    @classmethod
    def from_graph(cls, data: dict[str, Any]) -> GraphDomain:
        return cls(
            id=str(data["id"]).lower(),
            is_verified=bool(data.get("isVerified")),
            is_default=bool(data.get("isDefault")),
            is_initial=bool(data.get("isInitial")),
            supported_services=tuple(data.get("supportedServices") or ()),
            availability_status=data.get("availabilityStatus"),
        )


class GraphClient:
    def __init__(self, http: MicrosoftHttp) -> None:
        self.http = http
        self.base = http.config.endpoints.graph

    async def _call(self, method: str, path: str, tenant: str, subject: str, json: Any = None) -> Any:
        url = path if path.startswith("https://") else f"{self.base}{path}"
        response = await self.http.request(
            method,
            url,
            tenant=tenant,
            resource=Resource.GRAPH,
            json=json,
            error=partial(graph_error, subject=subject),
        )
        return response.json() if response.content else None

    @staticmethod
    def _path(domain: str) -> str:
        return f"/domains/{quote(domain.lower(), safe='')}"

    async def create_domain(self, tenant: str, domain: str) -> GraphDomain:
        return GraphDomain.from_graph(await self._call("POST", "/domains", tenant, domain, {"id": domain}))

    async def get_domain(self, tenant: str, domain: str, *, fresh: bool = False) -> GraphDomain:
        """`fresh`: the domain was written just now, so a 404 may be replication lag."""
        read = partial(self._call, "GET", self._path(domain), tenant, domain)
        return GraphDomain.from_graph(await (self._after_write(read) if fresh else read()))

    async def _after_write(self, call: Callable[[], Awaitable[T]], keep_waiting: StillWanted | None = None) -> T:
        """Run a read or update that follows a write, retrying while Graph's replicas lag
        (404, or a refusal from a replica that has not seen the write), for up to
        `replication_wait` seconds with doubling waits. A 404 cannot tell lag from a delete:
        `keep_waiting` (asked before each wait) lets the caller stop waiting for a domain it
        knows is gone."""
        deadline = time.monotonic() + self.http.config.replication_wait
        wait = 0.25
        while True:
            try:
                return await call()
            except (DomainNotFound, DomainNotReplicated):
                if time.monotonic() + wait > deadline or (keep_waiting is not None and not await keep_waiting()):
                    raise
            await self.http.sleep(wait)
            wait = min(wait * 2, 8.0)

    async def list_domains(self, tenant: str) -> list[GraphDomain]:
        """Every domain of the tenant, following `@odata.nextLink` until it is absent."""
        out: list[GraphDomain] = []
        url: str | None = "/domains"
        while url:
            page = await self._call("GET", url, tenant, "list")
            out.extend(GraphDomain.from_graph(d) for d in page.get("value", []))
            url = page.get("@odata.nextLink")
        return out

    async def delete_domain(self, tenant: str, domain: str) -> None:
        await self._call("DELETE", self._path(domain), tenant, domain)

    async def verification_records(
        self, tenant: str, domain: str, *, fresh: bool = False, keep_waiting: StillWanted | None = None
    ) -> list[dict[str, Any]]:
        """Raw `domainDnsRecord`s; parse them with `tenantcore.dnshealth.records`."""
        return await self._records(tenant, domain, "verificationDnsRecords", fresh, keep_waiting)

    async def service_configuration_records(
        self, tenant: str, domain: str, *, fresh: bool = False, keep_waiting: StillWanted | None = None
    ) -> list[dict[str, Any]]:
        """What Microsoft wants published for the domain's services; it depends on them
        (`supportedServices`), so read it again after they change."""
        return await self._records(tenant, domain, "serviceConfigurationRecords", fresh, keep_waiting)

    async def _records(
        self, tenant: str, domain: str, which: str, fresh: bool, keep_waiting: StillWanted | None
    ) -> list[dict[str, Any]]:
        read = partial(self._call, "GET", f"{self._path(domain)}/{which}", tenant, domain)
        page = await (self._after_write(read, keep_waiting) if fresh else read())
        return list(page.get("value", []))

    async def verify_domain(self, tenant: str, domain: str) -> GraphDomain:
        """Ask Microsoft to verify. Raises `DnsVerificationPending` while the TXT is not visible
        to Microsoft, `DomainInUse` when another tenant holds the domain."""
        return GraphDomain.from_graph(await self._call("POST", f"{self._path(domain)}/verify", tenant, domain))

    async def enable_email(
        self, tenant: str, domain: str, *, fresh: bool = False, keep_waiting: StillWanted | None = None
    ) -> bool:
        """Make sure a verified domain serves Email, as the admin center does after verification
        (Exchange then accepts it after a lag). A PATCH replaces the whole `supportedServices`
        collection, so it is read first and only Email is added to what the domain has: Teams
        (OfficeCommunicationsOnline), Intune or anything else of the customer's stays. True
        when a PATCH was sent; False when the domain served Email already."""
        read = partial(self._call, "GET", self._path(domain), tenant, domain)
        found = GraphDomain.from_graph(await (self._after_write(read, keep_waiting) if fresh else read()))
        if "Email" in found.supported_services:
            return False
        services = [*found.supported_services, "Email"]
        patch = partial(self._call, "PATCH", self._path(domain), tenant, domain, {"supportedServices": services})
        await (self._after_write(patch, keep_waiting) if fresh else patch())
        return True
