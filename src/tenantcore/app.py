"""The app factory: the API, the web app and the embedded worker over one Runtime."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from tenantcore import __version__, logs
from tenantcore.accounts.routes import router as keys_router
from tenantcore.api import errors, openapi
from tenantcore.api.fast_reads import FastReads
from tenantcore.api.middleware import (
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from tenantcore.config import Settings
from tenantcore.dnsproviders.routes import router as dns_providers_router
from tenantcore.domains.routes import router as domains_router
from tenantcore.events.routes import router as events_router
from tenantcore.idempotency.middleware import IdempotencyMiddleware
from tenantcore.metrics import routes as metrics_routes
from tenantcore.metrics.middleware import MetricsMiddleware
from tenantcore.ratelimit.middleware import RateLimiter, RateLimitMiddleware
from tenantcore.runtime import Runtime
from tenantcore.tenants.routes import router as tenants_router
from tenantcore.web import redirects as web_redirects
from tenantcore.web import session as web_session
from tenantcore.web.events_page import router as web_events_router
from tenantcore.web.lifecycle_pages import router as web_lifecycle_router
from tenantcore.web.pages import router as web_router
from tenantcore.web.problems import router as problems_router
from tenantcore.webhooks.routes import router as webhooks_router
from tenantcore.worker.runner import Worker

DESCRIPTION = """Adds custom sending domains to Microsoft 365 tenants, returns the DNS records to
publish, verifies the domains, enables DKIM and watches SPF, DKIM, DMARC and MX health.

Authenticate with `Authorization: Bearer tc_live_…` (real tenants) or `tc_test_…` (the sandbox).
Errors are `{"detail": {"code": "...", "message": "..."}}`; every response has an `X-Request-ID`."""


def announce(runtime: Runtime) -> None:
    """What a person starting the server needs to know, printed once (as JSON lines when the
    logs are: the output stays one format)."""
    if runtime.settings.log_format == "json":
        _announce_json(runtime)
        return
    lines = [f"TenantCore {__version__} on {runtime.settings.base_url} (docs: {runtime.settings.base_url}/docs)"]
    if runtime.sandbox is not None and runtime.sandbox.dns and runtime.sandbox.emulator:
        lines.append(
            f"sandbox: DNS {runtime.sandbox.dns.address}, Microsoft 365 emulator {runtime.sandbox.emulator.url}"
        )
    if runtime.first_keys:
        lines += [
            "",
            "First start: an account was created. Its API keys are shown ONCE; store them now:",
            f"  live: {runtime.first_keys['live']}",
            f"  test: {runtime.first_keys['test']}  (sandbox)",
            "",
        ]
    print("\n".join(lines), flush=True)


def _announce_json(runtime: Runtime) -> None:
    url = runtime.settings.base_url
    lines = [logs.json_line(f"TenantCore {__version__} on {url}", version=__version__, url=url)]
    # (The sandbox's addresses are logged by the sandbox itself.)
    if runtime.first_keys:
        # Printed once, as the text format does: the only way to learn the first keys. Nothing
        # logs them (they go to stdout here, never through a logger).
        lines.append(
            logs.json_line(
                "First start: an account was created. Its API keys are shown ONCE; store them now",
                level="WARNING",
                live_key=runtime.first_keys["live"],
                test_key=runtime.first_keys["test"],
            )
        )
    print("\n".join(lines), flush=True)


def install_docs(app: FastAPI) -> None:
    """/docs served from Swagger UI files shipped in a package: FastAPI's default page loads
    them from a CDN, which leaves a blank page on an offline or locked-down server."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.origin is not None
    static = Path(spec.origin).parent / "static"
    app.mount("/static/swagger-ui", StaticFiles(directory=static), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="TenantCore API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        announce(runtime)
        worker = app.state.worker = Worker(runtime) if settings.worker else None
        task = asyncio.create_task(worker.run_forever()) if worker else None
        # Start-up objects (routes, models, compiled statements) never die: keep them out of
        # every collection. The cyclic GC was 12% of a request's CPU (bench/README.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if worker is not None and task is not None:
                worker.stop()
                # A batch may be waiting on Microsoft: give it a moment, then cut it short
                # (its leases run out and another worker takes the domains).
                with suppress(TimeoutError):
                    await asyncio.wait_for(task, timeout=5)
            await runtime.close()

    app = FastAPI(
        title="TenantCore",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.runtime = runtime
    errors.install(app)
    openapi.install(app)
    app.include_router(tenants_router)
    app.include_router(domains_router)
    app.include_router(dns_providers_router)
    app.include_router(keys_router)
    app.include_router(events_router)
    app.include_router(webhooks_router)
    # The lifecycle pages first: their paths are more specific than pages' catch-alls
    # (…/domains/{name}/{action}, /tenants/{tenant_id}); GETs on form URLs last.
    app.include_router(web_lifecycle_router)
    app.include_router(web_router)
    app.include_router(problems_router)
    web_redirects.install(app, web_lifecycle_router, web_router, problems_router)
    app.include_router(web_events_router)
    metrics_routes.install(app, runtime)
    web_session.install(app)
    app.mount("/app/static", StaticFiles(directory=web_session.STATIC), name="app-static")
    # The app's session: signed (itsdangerous) with a key derived from the server secret,
    # HttpOnly (Starlette's default), SameSite=Strict, Secure when served over https.
    session_key = hmac.new(runtime.secret, b"tenantcore web session", hashlib.sha256).hexdigest()
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key,
        session_cookie="tenantcore_session",
        max_age=12 * 3600,
        same_site="strict",
        https_only=settings.base_url.startswith("https://"),
    )
    app.add_middleware(FastReads, runtime=runtime)  # the domain list, ahead of FastAPI's routing
    app.add_middleware(IdempotencyMiddleware, runtime=runtime)  # inside the body limit: it reads bodies
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    # The API's limits, shared with the sign-in form (it counts failed sign-ins per address).
    limiter = app.state.rate_limiter = RateLimiter(settings, runtime.secret, runtime.engine)
    if limiter.keys is not None or limiter.failures is not None:  # both off: not even its few µs
        app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.add_middleware(SecurityHeadersMiddleware)
    # Inside the request id (a 500 it answers is counted as one), outside the rest: everything a
    # middleware answers (413, 429, a replay) is timed and counted too.
    app.add_middleware(MetricsMiddleware, routes=app.router.routes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HeadAsGetMiddleware)  # outermost: everything inside sees the GET it answers
    return app
