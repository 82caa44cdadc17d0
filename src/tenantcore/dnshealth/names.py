"""Domain-name helpers: normalisation and the registrable zone a record lives in."""

from __future__ import annotations

from functools import lru_cache

import dns.name
from publicsuffixlist import PublicSuffixList

# One instance for the process: building it parses the whole bundled list (parsedmarc #473).
_PSL = PublicSuffixList()


def normalize(name: str) -> str:
    """Lower-case ASCII (IDNA) form without the trailing dot: the key we store and compare."""
    text = name.strip().rstrip(".")
    if not text:
        raise ValueError("empty domain name")
    return dns.name.from_unicode(text).to_text(omit_final_dot=True).lower()


def fqdn(name: str) -> str:
    """The name with exactly one trailing dot, as DNS answers print it."""
    return name.rstrip(".") + "."


@lru_cache(maxsize=65536)
def registrable_zone(domain: str) -> str:
    """The zone an operator edits at the registrar: `mail.acmecorp.com` → `acmecorp.com`.

    Falls back to the name itself for names the public suffix list cannot place
    (e.g. sandbox names under a made-up TLD), so exports still work there.
    """
    domain = domain.rstrip(".").lower()
    return _PSL.privatesuffix(domain) or domain


def relative_to(name: str, origin: str) -> str:
    """`selector1._domainkey.mail.acmecorp.com` relative to `acmecorp.com` → `selector1._domainkey.mail`.

    The origin itself is `@`, as registrars and zone files write it.
    """
    name = name.rstrip(".").lower()
    origin = origin.rstrip(".").lower()
    if name == origin:
        return "@"
    if name.endswith("." + origin):
        return name[: -len(origin) - 1]
    raise ValueError(f"{name} is not inside {origin}")
