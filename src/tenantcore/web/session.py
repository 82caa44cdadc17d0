"""The app's session: who is signed in, CSRF, flash messages and rendering.

Signing in with an API key puts the caller (account, mode, key id — never the key) in a
signed, HttpOnly, SameSite=Strict session cookie; every page re-checks that the key is still
active, so rotating a key signs its sessions out. Every form carries a per-session CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from tenantcore.accounts.service import Caller, key_is_active
from tenantcore.api.middleware import is_app_page
from tenantcore.db import now
from tenantcore.dnshealth.names import readable
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


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(when: datetime) -> str:
    seconds = int((now() - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _time(when: datetime, text: str) -> Markup:
    # The machine-readable instant and, on hover, the absolute UTC time behind the text.
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        when.astimezone(UTC).isoformat().replace("+00:00", "Z"), _utc(when), text
    )


def _ago(when: datetime | None) -> Markup | str:
    """'5 min ago', with its absolute UTC time in a <time> element (title on hover)."""
    if when is None:
        return "never"
    return _time(when, _relative(when))


def _at(when: datetime | None) -> Markup | str:
    """The absolute UTC time, visible, with the relative time after it."""
    if when is None:
        return "never"
    return Markup('{} <span class="muted">({})</span>').format(_time(when, _utc(when)), _relative(when))


templates.env.globals.update(badge=_badge, ago=_ago, when=_ago, at=_at)
templates.env.filters["readable"] = readable

# The header's navigation: (section, link, label). `render` marks the current one.
NAV = (
    ("fleet", "/app", "Fleet"),
    ("problems", "/app/problems", "Problems"),
    ("events", "/app/events", "Events"),
    ("dns-providers", "/app/dns-providers", "DNS providers"),
)


def section_of(request: Request) -> str | None:
    """The nav section a page belongs to, from its path: tenant and domain pages are in Fleet."""
    path = request.url.path.rstrip("/")
    if not path.startswith("/app") or path.startswith("/app/login"):
        return None
    for section, _, _ in NAV[1:]:
        if path == f"/app/{section}" or path.startswith(f"/app/{section}/"):
            return section
    return "fleet"


def nav_links(request: Request, section: str | None) -> list[tuple[str, str, str | None]]:
    """(link, label, aria-current) per nav entry: "page" on the page itself, "true" on a page
    inside that section (a tenant or domain page is inside Fleet)."""
    here = request.url.path.rstrip("/")
    return [
        (href, label, None if key != section else "page" if here == href.split("?")[0] else "true")
        for key, href, label in NAV
    ]


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


class CsrfFailed(TenantCoreError):
    """A form without this session's token: answered by a 403 page (not the API's JSON)."""


async def checked_form(request: Request) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the session's."""
    form = dict(await request.form())
    sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent.encode(), str(request.session.get("csrf", "")).encode()):
        raise CsrfFailed(
            403,
            "csrf_failed",
            "The form expired (you signed in again elsewhere?) or did not come from this app; "
            "nothing was done. Open the page again and retry.",
        )
    return form


class SignInRequired(Exception):
    """Raised by `signed_in` for a visitor without a live session: answered by the sign-in page."""


def local_path(raw: str | None) -> str | None:
    """`raw` when it is a page of this app to return to after signing in (a link from a webhook,
    an e-mail, a bookmark), else None: never another site (`//evil`, `/\\evil`, a scheme)."""
    if not raw or len(raw) > 2048 or not (raw == "/app" or raw.startswith(("/app/", "/app?"))):
        return None
    if "\\" in raw or any(c.isspace() or not c.isprintable() for c in raw) or raw.startswith("/app/login"):
        return None
    return raw


def login_url(wanted: str | None) -> str:
    return "/app/login" + (f"?{urlencode({'next': wanted})}" if wanted else "")


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


def render(
    request: Request, name: str, caller: Caller | None, status: int = 200, section: str | None = None, **context: Any
) -> HTMLResponse:
    """The page `name`; `section` (fleet, problems, events, dns-providers) marks the nav link
    current, found from the request's path when not given."""
    interval = runtime_of(request).settings.check_interval
    context |= {
        "caller": caller,
        "nav": nav_links(request, section or section_of(request)),
        "csrf": csrf_token(request),
        "flashes": request.session.pop("flashes", []),
        "stale": lambda when: when is None or now() - when > timedelta(seconds=2 * interval),
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


_TITLES = {
    403: "Not allowed",
    404: "Not found",
    405: "Not here",
    413: "Too large",
    429: "Slow down",
    503: "Unavailable",
}


def error_page(request: Request, caller: Caller | None, error: TenantCoreError) -> HTMLResponse:
    title = _TITLES.get(error.status, "Something went wrong")
    response = render(
        request, "error.html", caller, error.status, code=error.status, title=title, message=error.message
    )
    response.headers.update(error.headers or {})
    return response


def is_page(request: Request) -> bool:
    """A request for one of the app's pages (not its static files): errors answer as pages."""
    return is_app_page(request.url.path)


def app_error_page(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None
) -> HTMLResponse:
    """An error the API's handlers met on an app page (no route, a body over the limit, a
    bug): the error page with the app's header, for whoever the session says is signed in.
    The session is read, not checked against the keys: the page only shows the navigation."""
    data = request.session.get("caller") if "session" in request.scope else None
    caller = Caller(data["account_id"], data["mode"], data["key_id"]) if data else None
    return error_page(request, caller, TenantCoreError(status, code, message, headers=headers))


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> RedirectResponse:
        # A page opened while signed out is where the operator lands after signing in.
        url = request.url
        wanted = local_path(url.path + (f"?{url.query}" if url.query else "")) if request.method == "GET" else None
        return RedirectResponse(login_url(None if wanted == "/app" else wanted), 303)  # the fleet is the default

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> HTMLResponse:
        # A page a person can act on; the caller is not looked up (the form may be forged).
        return error_page(request, None, exc)
