"""Errors as TenantCore's API shows them (the one place that maps `TenantCoreError` and
Microsoft's errors to HTTP): `{"detail": {"code": "...", "message": "..."}}`,
for every status, 404 and 405 included, with a request id on every response."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantcore.api import openapi
from tenantcore.errors import TenantCoreError, database_unavailable, from_microsoft
from tenantcore.microsoft import errors as ms
from tenantcore.web.session import app_error_page, is_page

log = logging.getLogger("tenantcore.api")


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"detail": {"code": code, "message": message}}


def _response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if is_page(request):  # a person in the app, not an API client: a page, not JSON
        return app_error_page(request, status, code, message, headers)
    return JSONResponse(error_body(code, message), status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install(app: FastAPI) -> None:
    @app.exception_handler(TenantCoreError)
    async def _domain_error(request: Request, exc: TenantCoreError) -> Response:
        return _response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(ms.MicrosoftError)
    async def _microsoft(request: Request, exc: ms.MicrosoftError) -> Response:
        log.warning(
            "Microsoft error on %s: %s (%s, client-request-id %s)",
            request.url.path,
            exc.code,
            exc.message,
            exc.client_request_id,
        )
        error = from_microsoft(exc)
        return _response(request, error.status, error.code, error.message, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allowed = openapi.allowed_methods(app, request.url.path)
            if request.method == "OPTIONS" and allowed:
                # OPTIONS says what the resource takes (RFC 9110 9.3.7): no body, no auth needed.
                return Response(status_code=204, headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
            if allowed:  # else (the app's pages) Starlette's own Allow stands
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        if isinstance(exc.detail, dict) and "code" in exc.detail:
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = {
            404: f"There is no page at {request.url.path}."
            if is_page(request)
            else f"No route {request.method} {request.url.path}.",
            405: f"{request.method} is not allowed on {request.url.path}.",
        }.get(exc.status_code, str(exc.detail))
        return _response(request, exc.status_code, code, message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return _response(request, 400, "invalid_json", "The request body is not valid JSON.")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        message = f"{where}: {first.get('msg', 'invalid value')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return _response(request, 400, "invalid_request", message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            return _response(request, 503, unavailable.code, unavailable.message, unavailable.headers)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _response(request, 500, "internal_error", "Something went wrong on our side; it has been logged.")
