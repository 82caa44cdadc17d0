"""Which addresses a user-supplied destination (a webhook URL, a DNS provider's server) may
reach. TenantCore runs inside someone's network: letting any account point it at loopback,
private ranges or the cloud metadata service would make it a proxy into that network (SSRF).

Policies: `public` (globally routable only), `loopback` (public, or this machine: the sandbox
and tests), `any` (the operator allowed private targets). IPv6 forms that embed an IPv4
address (mapped, 6to4, NAT64) are judged by the address they embed. Callers connect to the
address that was checked, where they can, so a DNS answer that changes between the check and
the connection (rebinding) does not get through."""

from __future__ import annotations

import ipaddress
from typing import Literal

from tenantcore.dnshealth.cares import HostNotFound, host_addresses

Policy = Literal["public", "loopback", "any"]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    pass


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def allowed(address: str, policy: Policy) -> bool:
    if policy == "any":
        return True
    ip = _embedded(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip.is_global and not ip.is_multicast:
        return True
    return policy == "loopback" and ip.is_loopback


async def checked_address(host: str, policy: Policy) -> str:
    """An address of `host` the policy allows (every address it resolves to must be allowed:
    a name with one private answer is refused); AddressRefused says why, without saying
    where a name points inside the network."""
    # Looked up by c-ares on the loop, not by getaddrinfo(3) on the loop's few lookup threads: a
    # receiver whose name servers never answer would hold those threads, and with them every
    # other receiver's delivery; here it holds only its own, which the caller's timeout ends.
    try:
        addresses = await host_addresses(host)
    except HostNotFound as exc:
        raise AddressRefused(f"{host} does not resolve ({exc})") from None
    if not addresses or not all(allowed(a, policy) for a in addresses):
        raise AddressRefused(
            f"{host} is not a public address (the operator can allow private ones: "
            "TENANTCORE_WEBHOOK_ALLOW_PRIVATE, TENANTCORE_DNS_PROVIDER_ALLOW_PRIVATE)"
        )
    return addresses[0]
