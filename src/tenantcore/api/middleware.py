"""Request ids and body limits, as pure ASGI middleware (no per-request task overhead)."""

from __future__ import annotations

import contextlib
import html
import json
import logging
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenantcore.errors import database_unavailable
from tenantcore.logs import REQUEST_ID

log = logging.getLogger("tenantcore.api")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Every response carries `X-Request-ID`: the caller's own when it looks sane, else a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        # Every log line written while the request runs carries its id (tenantcore.logs).
        context = REQUEST_ID.set(request_id)
        try:
            await self._answer(scope, receive, send, request_id)
        finally:
            REQUEST_ID.reset(context)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's outermost handler, so a 500 carries the
            # request id too (and the API's error body): the id is what finds it in the logs.
            unavailable = database_unavailable(exc)
            where = (scope.get("method"), scope.get("path"), request_id)
            if unavailable is not None:  # the request was fine: a retry soon works
                # The class only: a driver's error can carry the statement and its parameters.
                log.warning("database unavailable on %s %s (request %s): %s", *where, type(exc).__name__)
                status, code, message = unavailable.status, unavailable.code, unavailable.message
                extra = [(k.lower().encode(), v.encode()) for k, v in (unavailable.headers or {}).items()]
            else:
                log.exception("unhandled error on %s %s (request %s)", *where)
                status, code, extra = 500, "internal_error", []
                message = f"Something went wrong on our side (request {request_id})."
            if started:
                raise
            if is_app_page(scope["path"]):  # an operator in the app: a page, as for every other error
                title = "Unavailable" if status == 503 else "Something went wrong"
                body, kind = simple_page(f"{title} ({status})", message), b"text/html; charset=utf-8"
                extra += _EVERYWHERE + _APP  # answered outside the security headers' middleware
            else:
                body, kind = json.dumps({"detail": {"code": code, "message": message}}).encode(), b"application/json"
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra],
                }
            )
            await send({"type": "http.response.body", "body": body})


class HeadAsGetMiddleware:
    """HEAD is answered as GET would be, without the body (RFC 9110 §9.3.2): FastAPI's GET
    routes take no HEAD, and uptime monitors, link checkers and `curl -I` send it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        # The response keeps GET's headers, Content-Length included, as HEAD's must.
        await self.app({**scope, "method": "GET"}, receive, headers_only)


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes with 413, by Content-Length or while streaming.

    FastAPI's own `max_body_size` answers 413 as plain text before any handler runs; ours
    keeps the API's error body and the request id on that response too."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        page = is_app_page(scope["path"])
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit, page)
            return
        seen = 0
        exceeded = False
        ended = False

        async def limited() -> Message:
            nonlocal seen, exceeded, ended
            message = await receive()
            if message["type"] == "http.request":
                ended = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def unless_exceeded(message: Message) -> None:
            # A handler that caught our exception answers 400 "error parsing the body": the
            # client is owed the 413 instead, so nothing it sends goes out.
            if not exceeded:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited, unless_exceeded)
        if exceeded:
            await _drain(receive, ended)
            await _too_large(send, self.limit, page)


async def _drain(receive: Receive, ended: bool, cap: int = 16 * 1024 * 1024) -> None:
    """Read what is left of an over-long body (up to `cap`) before answering: a server that
    answers mid-upload and closes makes the client see a connection reset, not the 413."""
    read = 0
    while not ended and read < cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        ended = not message.get("more_body", False)


class _TooLarge(Exception):
    pass


def is_app_page(path: str) -> bool:
    """One of the app's pages (not its static files): its errors answer as pages, not JSON."""
    return (path == "/app" or path.startswith("/app/")) and not path.startswith("/app/static/")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · TenantCore</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/app/static/app.css">
</head><body><header><a class="brand" href="/app">TenantCore</a></header><main id="main"><div class="card">
<h1>{title}</h1><p role="alert">{text}</p><p><a href="/app">Back to the fleet</a></p>
</div></main></body></html>
"""


def simple_page(title: str, text: str) -> bytes:
    """An error page for the app answered below the app (no handler, no session, no template
    engine): a body over the limit, a crash that escaped every handler."""
    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()


async def _too_large(send: Send, limit: int, page: bool = False) -> None:
    if page:  # a form in the app (a CSV upload)
        data = simple_page(
            "Too large (413)",
            f"What you sent is over {limit // 1024} KiB. A CSV file of domains needs only its first column, "
            "and one upload adds at most 100 domains: split the file, or paste the names.",
        )
        kind = b"text/html; charset=utf-8"
    else:
        body: Any = {"detail": {"code": "payload_too_large", "message": f"The request body is over {limit} bytes."}}
        data = json.dumps(body).encode()
        kind = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", kind), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


# The app's pages load only their own script and stylesheet (inline style attributes are used
# for layout; no inline script), are never framed, and send no referrer elsewhere.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONSENT_CALLBACK = "/v1/tenants/callback"
_EVERYWHERE = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_APP = [(b"content-security-policy", APP_CSP.encode()), (b"x-frame-options", b"DENY")]


class SecurityHeadersMiddleware:
    """nosniff and no referrer on every response; on the app's pages also a strict
    Content-Security-Policy and no framing (clickjacking)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        # The app's pages, and the page a browser back from Microsoft's consent screen gets.
        # (Not every HTML: /docs runs Swagger UI's inline script.)
        extra = _EVERYWHERE + (_APP if path.startswith("/app") or path == CONSENT_CALLBACK else [])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", []).extend(h for h in extra if h[0] not in present)
            await send(message)

        await self.app(scope, receive, with_headers)
