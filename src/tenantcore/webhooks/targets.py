"""Where webhooks may go: http(s) URLs whose host passes `tenantcore.netguard`: public
addresses only, for live and test keys alike, unless the operator allows private ones; loopback
too for test keys on a local sandbox (`Settings.local_sandbox`: a developer's own machine, where
the receiver is local too); never the metadata service or private ranges by default. Checked on
create and again at every delivery; redirects are never followed."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tenantcore import netguard
from tenantcore.config import Settings
from tenantcore.errors import TenantCoreError


class TargetRefused(Exception):
    pass


def parse(url: str) -> tuple[str, int]:
    # Whitespace and control characters are not part of a URL (RFC 3986): refused here, on create,
    # rather than by the HTTP client at every delivery.
    if any(c.isspace() or not c.isprintable() for c in url):
        raise TargetRefused("not a valid URL: it holds whitespace or a control character (percent-encode it)")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)  # what the delivery will send to must be a URL the client takes
    except (ValueError, httpx.InvalidURL) as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from None
    if port == 0:
        raise TargetRefused("not a valid URL (port 0)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be http:// or https:// with a host name")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed: put a token in the path or query")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def policy(settings: Settings, mode: str) -> netguard.Policy:
    if settings.webhook_allow_private:
        return "any"
    # Not for every test key: on a server several accounts share, a test key reaching loopback
    # would let any of them probe the server's own ports through the delivery log (SSRF).
    return "loopback" if mode == "test" and settings.local_sandbox else "public"


async def check(url: str, rule: netguard.Policy) -> None:
    """Raise TargetRefused, saying why, for a URL deliveries must not reach."""
    host, _ = parse(url)
    try:
        await netguard.checked_address(host, rule)
    except netguard.AddressRefused as exc:
        raise TargetRefused(str(exc)) from None


async def accepted(url: str, rule: netguard.Policy) -> None:
    """`check` for the API: a refusal is a 400 with a stable code."""
    try:
        await check(url, rule)
    except TargetRefused as exc:
        raise TenantCoreError(400, "webhook_url_not_allowed", str(exc)) from None
