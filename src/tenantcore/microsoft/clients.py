"""Building the Graph and Exchange clients over one token provider and HTTP layer."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tenantcore.microsoft.config import MicrosoftConfig
from tenantcore.microsoft.exchange import ExchangeClient
from tenantcore.microsoft.graph import GraphClient
from tenantcore.microsoft.http import MicrosoftHttp
from tenantcore.microsoft.tokens import TokenProvider
from tenantcore.microsoft.transport import RoutedSyncTransport, RoutedTransport


@dataclass
class MicrosoftClients:
    tokens: TokenProvider
    http: MicrosoftHttp
    graph: GraphClient
    exchange: ExchangeClient

    @classmethod
    def create(
        cls,
        config: MicrosoftConfig,
        *,
        emulator: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> MicrosoftClients:
        """Clients for Microsoft, or, with `emulator` (its base URL), for the emulator.
        `transport` replaces the async transport (e.g. an in-process ASGI transport)."""
        sync_transport: httpx.BaseTransport | None = None
        if emulator is not None:
            transport = RoutedTransport(emulator, transport)
            sync_transport = RoutedSyncTransport(emulator)
        tokens = TokenProvider(config, httpx.Client(timeout=config.timeout, transport=sync_transport))
        http = MicrosoftHttp(config, tokens, httpx.AsyncClient(timeout=config.timeout, transport=transport))
        return cls(tokens, http, GraphClient(http), ExchangeClient(http))

    async def aclose(self) -> None:
        await self.http.aclose()
        self.tokens.close()
