"""Where webhooks may go: http(s) URLs whose host passes `tenantcore.netguard` (public
addresses in live mode unless the operator allows private ones; loopback too for test keys,
whose receivers are local; never the metadata service or private ranges by default), checked
on create and again at every delivery; redirects are never followed."""

from __future__ import annotations

from urllib.parse import urlsplit

from tenantcore import netguard
from tenantcore.errors import TenantCoreError


class TargetRefused(Exception):
    pass


def parse(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be http:// or https:// with a host name")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed: put a token in the path or query")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def policy(allow_private: bool, mode: str) -> netguard.Policy:
    if allow_private:
        return "any"
    return "loopback" if mode == "test" else "public"


async def check(url: str, rule: netguard.Policy) -> None:
    """Raise TargetRefused, saying why, for a URL deliveries must not reach."""
    host, port = parse(url)
    try:
        await netguard.checked_address(host, port, rule)
    except netguard.AddressRefused as exc:
        raise TargetRefused(str(exc)) from None


async def accepted(url: str, rule: netguard.Policy) -> None:
    """`check` for the API: a refusal is a 400 with a stable code."""
    try:
        await check(url, rule)
    except TargetRefused as exc:
        raise TenantCoreError(400, "webhook_url_not_allowed", str(exc)) from None
