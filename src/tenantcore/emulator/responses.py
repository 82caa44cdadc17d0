"""Microsoft's wire shapes for errors, shared by the emulator's routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def ids(request: Request) -> dict[str, str]:
    return {
        "request-id": str(uuid.uuid4()),
        "client-request-id": request.headers.get("client-request-id", str(uuid.uuid4())),
    }


def odata_error(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Graph's OData v4 error envelope, with innerError ids as Graph sends them."""
    meta = ids(request)
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    body["innerError"] = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), **meta}
    return JSONResponse({"error": body}, status, headers={**meta, **(headers or {})})


def aad_error(status: int, error: str, aadsts: int, description: str) -> Response:
    """The identity platform's token-error shape."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{aadsts}: {description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
        },
        status,
    )


def exchange_error(request: Request, exception_type: str, message: str) -> Response:
    """InvokeCommand's 400: `error.message` is always "Invalid Operation"; the real text sits
    in details[0] (prefixed `|Type|`) and in innererror.internalexception."""
    return JSONResponse(
        {
            "error": {
                "code": "BadRequest",
                "message": "Invalid Operation",
                "details": [{"code": "Client", "target": "", "message": f"|{exception_type}|{message}"}],
                "innererror": {
                    "message": "Invalid Operation",
                    "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                    "stacktrace": "",
                    "internalexception": {"message": message, "type": exception_type, "stacktrace": ""},
                },
            }
        },
        400,
        headers=ids(request),
    )
