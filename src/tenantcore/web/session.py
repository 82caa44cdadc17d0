"""The app's session: who is signed in, CSRF, flash messages and rendering.

Signing in with an API key puts the caller (account, mode, key id — never the key) in a
signed, HttpOnly, SameSite=Strict session cookie; every page re-checks that the key is still
active, so rotating a key signs its sessions out. Every form carries a per-session CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from tenantcore.accounts.service import Caller, key_is_active
from tenantcore.db import now
from tenantcore.errors import TenantCoreError
from tenantcore.runtime import Runtime

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC = Path(__file__).parent / "static"


def _badge(status: str | None) -> Markup:
    if status in (None, "missing"):
        return Markup('<span class="badge b-error">missing</span>')
    if status == "unknown":
        return Markup('<span class="badge b-unknown">unknown</span>')
    return Markup('<span class="badge b-ok" title="{}">present</span>').format(escape(status))


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = int((now() - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


templates.env.globals.update(badge=_badge, ago=_ago)


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the session's."""
    form = dict(await request.form())
    sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent.encode(), str(request.session.get("csrf", "")).encode()):
        raise TenantCoreError(
            403, "csrf_failed", "The form expired or did not come from this app; reload and try again."
        )
    return form


class SignInRequired(Exception):
    """Raised by `signed_in` for a visitor without a live session: answered by the sign-in page."""


async def signed_in(request: Request) -> Caller:
    """The signed-in caller (a page dependency); anyone else is sent to sign in."""
    data = request.session.get("caller")
    if not data:
        raise SignInRequired
    if not await key_is_active(runtime_of(request).sessions, data["key_id"]):
        request.session.clear()  # the key was rotated: its sessions end with it
        raise SignInRequired
    return Caller(data["account_id"], data["mode"], data["key_id"])


CallerDep = Annotated[Caller, Depends(signed_in)]


def sign_in(request: Request, caller: Caller) -> None:
    request.session.clear()  # a fresh session (and CSRF token) at every sign-in
    request.session["caller"] = {"account_id": caller.account_id, "mode": caller.mode, "key_id": caller.key_id}


def flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flashes", []).append([kind, text])


def render(request: Request, name: str, caller: Caller | None, status: int = 200, **context: Any) -> HTMLResponse:
    interval = runtime_of(request).settings.check_interval
    context |= {
        "caller": caller,
        "csrf": csrf_token(request),
        "flashes": request.session.pop("flashes", []),
        "stale": lambda when: when is None or now() - when > timedelta(seconds=2 * interval),
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, caller: Caller | None, error: TenantCoreError) -> HTMLResponse:
    title = {403: "Not allowed", 404: "Not found"}.get(error.status, "Something went wrong")
    return render(request, "error.html", caller, error.status, code=error.status, title=title, message=error.message)


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse("/app/login", 303)
