"""GET /metrics: Prometheus's text format, behind a bearer token when one is set."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from tenantcore.errors import TenantCoreError
from tenantcore.metrics.exposition import Scraper
from tenantcore.runtime import Runtime

log = logging.getLogger("tenantcore.metrics")

# Not part of the API's contract with its callers (an operator's scraper reads it): kept out of
# the OpenAPI document.
router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    token = runtime.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        # Compared in constant time, and never logged.
        if not hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode()):
            raise TenantCoreError(
                401,
                "invalid_metrics_token",
                "GET /metrics needs Authorization: Bearer <TENANTCORE_METRICS_TOKEN>.",
                {"WWW-Authenticate": "Bearer"},
            )
    scraper: Scraper = request.app.state.metrics
    return Response(await scraper.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)  # what every Prometheus reads


def install(app: FastAPI, runtime: Runtime) -> None:
    app.state.metrics = Scraper(runtime)
    app.include_router(router)
    settings = runtime.settings
    if settings.metrics_token is None and not _loopback(settings.host):
        log.warning(
            "GET /metrics is open to anyone who reaches %s:%s; set TENANTCORE_METRICS_TOKEN unless only "
            "your monitoring network can",
            settings.host,
            settings.port,
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
