"""Sending Microsoft's real URLs somewhere else: to the emulator, in sandbox mode and tests.

The clients always build `https://graph.microsoft.com/...` and friends, and msal always talks
to `https://login.microsoftonline.com` (it insists on an https authority). In sandbox mode
these transports rewrite those hosts to the emulator's base URL (loopback HTTP) or hand them
to an in-process ASGI app, so the very code that runs against Microsoft runs against it.
"""

from __future__ import annotations

import httpx

MICROSOFT_HOSTS = frozenset(
    {"login.microsoftonline.com", "graph.microsoft.com", "outlook.office365.com", "outlook.office.com"}
)


def _rewrite(request: httpx.Request, base: httpx.URL) -> None:
    if request.url.host in MICROSOFT_HOSTS:
        request.headers["x-original-host"] = request.url.host
        request.url = request.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)


class RoutedTransport(httpx.AsyncBaseTransport):
    """Async: Microsoft hosts go to `base` through `inner` (default: plain HTTP)."""

    def __init__(self, base: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = httpx.URL(base)
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self.base)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class RoutedSyncTransport(httpx.BaseTransport):
    """Sync (for msal): Microsoft hosts go to `base` over plain HTTP."""

    def __init__(self, base: str, inner: httpx.BaseTransport | None = None) -> None:
        self.base = httpx.URL(base)
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _rewrite(request, self.base)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
