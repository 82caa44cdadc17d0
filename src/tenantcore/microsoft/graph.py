"""Microsoft Graph v1.0 domains: create, read, list, delete, DNS records, verify."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from tenantcore.microsoft.config import Resource
from tenantcore.microsoft.errors import graph_error
from tenantcore.microsoft.http import MicrosoftHttp


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

    async def get_domain(self, tenant: str, domain: str) -> GraphDomain:
        return GraphDomain.from_graph(await self._call("GET", self._path(domain), tenant, domain))

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

    async def verification_records(self, tenant: str, domain: str) -> list[dict[str, Any]]:
        """Raw `domainDnsRecord`s; parse them with `tenantcore.dnshealth.records`."""
        page = await self._call("GET", f"{self._path(domain)}/verificationDnsRecords", tenant, domain)
        return list(page.get("value", []))

    async def service_configuration_records(self, tenant: str, domain: str) -> list[dict[str, Any]]:
        page = await self._call("GET", f"{self._path(domain)}/serviceConfigurationRecords", tenant, domain)
        return list(page.get("value", []))

    async def verify_domain(self, tenant: str, domain: str) -> GraphDomain:
        """Ask Microsoft to verify. Raises `DnsVerificationPending` while the TXT is not visible
        to Microsoft, `DomainInUse` when another tenant holds the domain."""
        return GraphDomain.from_graph(await self._call("POST", f"{self._path(domain)}/verify", tenant, domain))

    async def enable_email(self, tenant: str, domain: str) -> None:
        """Mark a verified domain for Exchange (`supportedServices: [Email]`), as the admin
        center does after verification; Exchange then accepts it after a lag."""
        await self._call("PATCH", self._path(domain), tenant, domain, {"supportedServices": ["Email"]})
