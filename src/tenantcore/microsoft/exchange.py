"""Exchange Online admin API (InvokeCommand): the DKIM cmdlets and accepted domains.

Graph has no DKIM API; these are the cmdlets Exchange PowerShell runs, called over the REST
endpoint that ExchangeOnlineManagement v3 uses, with an app-only token for Exchange.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from tenantcore.microsoft.config import Resource
from tenantcore.microsoft.errors import DkimConfigExists, DkimConfigNotFound, exchange_error
from tenantcore.microsoft.http import MicrosoftHttp

DKIM_KEY_SIZE = 2048  # the cmdlet's default is still 1024


class ExchangeClient:
    def __init__(self, http: MicrosoftHttp) -> None:
        self.http = http
        self.base = http.config.endpoints.exchange

    async def invoke(self, tenant: str, cmdlet: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one cmdlet; returns the `value` rows (empty for Set-* cmdlets)."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}  # never null
        response = await self.http.request(
            "POST",
            f"{self.base}/{quote(tenant, safe='')}/InvokeCommand",
            tenant=tenant,
            resource=Resource.EXCHANGE,
            json=body,
            headers={"X-CmdletName": cmdlet, "Prefer": "odata.maxpagesize=1000"},
            error=partial(exchange_error, cmdlet=cmdlet),
        )
        data = response.json() if response.content else {}
        return list(data.get("value") or [])

    async def new_dkim_signing_config(self, tenant: str, domain: str) -> dict[str, Any]:
        """The domain's DKIM config with `Selector1CNAME`/`Selector2CNAME`: the existing one
        when Exchange has it (a custom domain may be listed already, Enabled false and
        CnameMissing), else new 2048-bit keys, disabled (so no CNAME is needed yet). Get comes
        first, as CIPP does: it depends on no wording of an "already exists" error."""
        try:
            return await self.get_dkim_signing_config(tenant, domain)
        except DkimConfigNotFound:
            pass
        try:
            rows = await self.invoke(
                tenant,
                "New-DkimSigningConfig",
                {"DomainName": domain, "Enabled": False, "KeySize": DKIM_KEY_SIZE},
            )
        except DkimConfigExists:  # created meanwhile by someone else
            rows = []
        if rows and rows[0].get("Selector1CNAME"):
            return rows[0]
        return await self.get_dkim_signing_config(tenant, domain)

    async def get_dkim_signing_config(self, tenant: str, domain: str) -> dict[str, Any]:
        """Raises `DkimConfigNotFound` when Exchange has no config for the domain."""
        rows = await self.invoke(tenant, "Get-DkimSigningConfig", {"Identity": domain})
        if not rows:
            raise DkimConfigNotFound(f"No DKIM signing config for {domain}.")
        return rows[0]

    async def list_dkim_signing_configs(self, tenant: str) -> list[dict[str, Any]]:
        return await self.invoke(tenant, "Get-DkimSigningConfig")

    async def enable_dkim(self, tenant: str, domain: str) -> None:
        """Turn signing on. Raises `DkimCnameMissing` while Exchange cannot see both CNAMEs."""
        await self.invoke(tenant, "Set-DkimSigningConfig", {"Identity": domain, "Enabled": True})

    async def accepted_domains(self, tenant: str) -> list[dict[str, Any]]:
        return await self.invoke(tenant, "Get-AcceptedDomain")
