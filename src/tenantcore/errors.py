"""The one error type the service raises: a stable `code`, a message for people, and the kind
of failure as an HTTP-like status (polar's `PolarError` does the same). Services, the runtime,
the worker and the app raise it; only `api/` turns it into an HTTP response."""

from __future__ import annotations

import math

from tenantcore.microsoft import errors as ms


class TenantCoreError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def domain_not_found(name: str) -> TenantCoreError:
    return TenantCoreError(404, "domain_not_found", f"{name} is not registered on this tenant.")


def tenant_not_found(ms_tenant_id: str) -> TenantCoreError:
    return TenantCoreError(
        404, "tenant_not_found", f"Tenant {ms_tenant_id} does not exist or belongs to a different account."
    )


def from_microsoft(error: ms.MicrosoftError) -> TenantCoreError:
    """Microsoft failures no step maps more specifically: 502 when Microsoft refused in a way
    we did not expect, 503 when it is unavailable or throttling us."""
    if isinstance(error, ms.Throttled):
        # Never "0": a fraction of a second from Microsoft is still a wait (rounded up).
        retry = str(max(1, math.ceil(error.retry_after))) if error.retry_after else "30"
        return TenantCoreError(503, "microsoft_throttled", error.message, {"Retry-After": retry})
    if isinstance(error, ms.MicrosoftUnavailable):
        return TenantCoreError(503, "microsoft_unavailable", error.message, {"Retry-After": "30"})
    if isinstance(error, ms.TokenError | ms.InsufficientPrivileges | ms.ExchangeAccessDenied | ms.Unauthorized):
        return TenantCoreError(502, error.code, error.message)
    return TenantCoreError(502, "microsoft_error", error.message)


def database_unavailable(exc: BaseException) -> TenantCoreError | None:
    """A 503 when the database cannot be reached or takes no more connections (a pool wait that
    ran out, PostgreSQL's "too many clients", a refused or dropped connection): the caller's
    request was fine and a retry soon will work; None for anything else (a real 500)."""
    import sqlite3

    from sqlalchemy import exc as sa

    cause: BaseException | None = exc.orig if isinstance(exc, sa.DBAPIError) else exc
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        cause = OSError()
    while cause is not None and type(cause).__name__ == "Error" and cause.__cause__ is not None:
        cause = cause.__cause__  # SQLAlchemy's asyncpg adapter wraps the driver's own error
    names = {t.__name__ for t in type(cause).__mro__} if cause is not None else set()
    busy = isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)
    if (
        isinstance(exc, sa.TimeoutError)
        or isinstance(cause, (OSError, ConnectionError))
        or busy
        or names & {"TooManyConnectionsError", "CannotConnectNowError", "ConnectionDoesNotExistError"}
    ):
        return TenantCoreError(
            503, "database_unavailable", "The database is busy or unreachable; retry shortly.", {"Retry-After": "1"}
        )
    return None
