"""Where webhooks may go. A receiver's URL is the account's input, and the server that
delivers sits inside someone's network: in live mode, loopback, private, link-local and other
non-public addresses are refused (SSRF) unless the operator allows them; the name is resolved
again at every delivery (a DNS answer can change after the endpoint was accepted), and
redirects are never followed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from tenantcore.errors import TenantCoreError


class TargetRefused(Exception):
    pass


def parse(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the URL must be http:// or https:// with a host name")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed: put a token in the path or query")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"bad port: {exc}") from None
    return parts.hostname, port


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check(url: str, allow_private: bool) -> None:
    """Raise TargetRefused, saying why, for a URL deliveries must not reach."""
    host, port = parse(url)
    if allow_private:
        return
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve ({exc.strerror or exc})") from None
    for *_, sockaddr in found:
        if not _public(str(sockaddr[0])):
            raise TargetRefused(
                f"{host} resolves to {sockaddr[0]}, which is not a public address "
                "(TENANTCORE_WEBHOOK_ALLOW_PRIVATE allows it)"
            )


async def accepted(url: str, allow_private: bool) -> None:
    """`check` for the API: a refusal is a 400 with a stable code."""
    try:
        await check(url, allow_private)
    except TargetRefused as exc:
        raise TenantCoreError(400, "webhook_url_not_allowed", str(exc)) from None
