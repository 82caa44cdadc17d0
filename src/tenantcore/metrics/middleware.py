"""Requests counted by route template and status, timed: a pure ASGI middleware.

No task and no Request object per request: one closure around `send`, two clock reads and a
dict lookup for the request's pre-bound metric children (bench: a few microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Final

from prometheus_client.metrics import Counter, Histogram
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantcore.metrics.registry import HTTP_DURATION, HTTP_REQUESTS

# What FastRead (the domain list's fast path) sets: it answers before FastAPI routes.
ROUTE_KEY: Final = "tenantcore.route"
# Anything answered without a route: 404s for unknown paths, and what a middleware answered
# before routing (413, 429, an idempotent replay). One label value, whatever the path.
UNMATCHED: Final = "unmatched"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Fixed:
    """The app's routes that FastAPI does not name in the scope (it does for its own API
    routes only): plain Starlette routes without parameters (/openapi.json) and mounts (static
    files). One dict lookup and a prefix test each."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.exact = {r.path: r.path for r in routes if isinstance(r, Route) and "{" not in r.path}
        self.prefixes = tuple(r.path for r in routes if isinstance(r, Mount) and r.path)

    def route(self, path: str) -> str:
        exact = self.exact.get(path)
        if exact is not None:
            return exact
        for prefix in self.prefixes:
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
                return prefix
        return UNMATCHED


class MetricsMiddleware:
    """`routes`: the app's routes (read at the first request, when all are added)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self._routes = routes
        self._fixed: _Fixed | None = None
        # (method, route, status) -> its counter and histogram children, bound once: `labels()`
        # validates and locks on every call. Bounded: methods, routes and statuses are.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            self._record(scope, status, perf_counter() - started)

    def route_of(self, scope: Scope) -> str:
        """The route template that answered (`/v1/tenants/{tenant_id}/domains`), never the raw
        path: the label's values are the app's routes, however many paths are asked for."""
        route = scope.get(ROUTE_KEY)
        if route is not None:
            return str(route)
        # FastAPI stores its matched API route in the scope, the same dict all the way down.
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str) and path:
            return path
        if self._fixed is None:
            self._fixed = _Fixed(self._routes)
        return self._fixed.route(scope["path"])

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        if method not in _METHODS:  # some HTTP parsers take any token as a method
            method = "other"
        key = (method, self.route_of(scope), status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(method, key[1], str(status)),
                HTTP_DURATION.labels(method, key[1]),
            )
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)
