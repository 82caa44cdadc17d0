"""Clients for Microsoft Graph (domains) and the Exchange Online admin API (DKIM).

    microsoft = MicrosoftClients.create(MicrosoftConfig(client_id, client_secret=...))
    await microsoft.graph.create_domain(tenant_id, "mail.acmecorp.com")
    config = await microsoft.exchange.new_dkim_signing_config(tenant_id, "mail.acmecorp.com")

`MicrosoftClients.create(..., emulator="http://127.0.0.1:8001")` sends the very same calls
to the Microsoft 365 emulator instead.
"""

from tenantcore.microsoft.clients import MicrosoftClients
from tenantcore.microsoft.config import Certificate, Endpoints, MicrosoftConfig, Resource
from tenantcore.microsoft.exchange import ExchangeClient
from tenantcore.microsoft.graph import GraphClient, GraphDomain

__all__ = [
    "Certificate",
    "Endpoints",
    "ExchangeClient",
    "GraphClient",
    "GraphDomain",
    "MicrosoftClients",
    "MicrosoftConfig",
    "Resource",
]
