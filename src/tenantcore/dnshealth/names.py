"""Domain-name helpers: normalisation and the registrable zone a record lives in."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import dns.exception
import dns.name
from publicsuffixlist import PublicSuffixList

# One instance for the process: building it parses the whole bundled list (parsedmarc #473).
_PSL = PublicSuffixList()


@lru_cache(maxsize=65536)
def normalize(name: str) -> str:
    """Lower-case ASCII (IDNA) form without the trailing dot: the key we store and compare."""
    text = name.strip().rstrip(".")
    if not text:
        raise ValueError("empty domain name")
    if text.isascii():
        # Already ASCII (everything Microsoft and DNS return): lower case is the whole job, and
        # the IDNA codec below costs ~50 µs a call. Typed input is validated by parse_domain.
        return text.lower()
    return dns.name.from_unicode(text).to_text(omit_final_dot=True).lower()


def readable(name: str) -> str:
    """A domain as its owner writes it, for people: `xn--bcher-mail-9db.de` →
    `bücher-mail.de (xn--bcher-mail-9db.de)`. DNS, records and exports keep the ASCII form."""
    if "xn--" not in name:
        return name
    try:
        unicode = dns.name.from_text(name).to_unicode(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError):
        return name
    return name if unicode == name else f"{unicode} ({name})"


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


def where(name: str) -> str:
    """Where an operator types a record at the registrar, as the app's records table and the
    exports show it: `host "selector1._domainkey.mail" of zone acmecorp.com`."""
    zone = registrable_zone(name)
    return f'host "{relative_to(name, zone)}" of zone {zone}'


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


class InvalidDomain(ValueError):
    """A string that is not a usable domain name; `code` is stable for APIs and scripts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_WITH_PORT = re.compile(r"[^\s:]+:\d*")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
# The longest names we publish under a domain: `selector1._domainkey.` (selector2 is as long)
# and `_dmarc.`. Each must stay within DNS's 253 characters, so the domain may be 232 at most.
LONGEST_PREFIX = "selector1._domainkey."
MAX_DOMAIN_LENGTH = 253 - len(LONGEST_PREFIX)
# Top-level names reserved for testing (RFC 2606, RFC 6761): not in the public suffix list,
# but the sandbox and its tests use them; Microsoft itself refuses them for live tenants.
TESTING_TLDS = frozenset({"test", "example"})


def is_known_tld(label: str) -> bool:
    """A top-level label that exists: in the public suffix list's ICANN or private section
    (bundled with `publicsuffixlist`, so offline), or reserved for testing."""
    return label in TESTING_TLDS or _PSL.publicsuffix(label, accept_unknown=False) is not None


def parse_domain(text: str, *, new: bool = True) -> str:
    """Validate and normalise a domain someone typed: IDNA to ASCII, lower case, no trailing dot.

    Refuses URLs, e-mail addresses, IP addresses, wildcards, single labels and names over
    DNS's length limits, each with its own code. A `new` name (one to add) must also leave
    room for the records published under it and end in a real top-level domain; a name only
    looked up (`new=False`) need not, so one stored before these rules stays reachable.
    """
    raw = text.strip()
    if not raw:
        raise InvalidDomain("invalid_domain", "The domain is empty.")
    if "://" in raw or "/" in raw:
        raise InvalidDomain("invalid_domain", f"'{raw}' looks like a URL; give the bare domain name.")
    if "@" in raw:
        raise InvalidDomain("invalid_domain", f"'{raw}' looks like an e-mail address; give the domain.")
    if "*" in raw:
        raise InvalidDomain("invalid_domain", "Wildcard names cannot be added as domains.")
    if raw.endswith(".."):
        raise InvalidDomain("invalid_domain", f"'{raw}' has an empty label.")
    try:
        ascii_name = normalize(raw)
    except (ValueError, dns.exception.DNSException, UnicodeError) as exc:
        raise InvalidDomain("invalid_domain", f"'{raw}' is not a valid domain name ({exc}).") from exc
    labels = ascii_name.split(".")
    if all(label.isdigit() for label in labels) or _is_ip(raw):
        raise InvalidDomain("invalid_domain", f"'{raw}' is an IP address, not a domain.")
    if _WITH_PORT.fullmatch(raw):
        raise InvalidDomain("invalid_domain", f"'{raw}' has a ':'; a port (like :25) is not part of a domain name.")
    for label in labels:
        if not label or len(label) > 63:
            raise InvalidDomain("invalid_domain", f"Label '{label}' must be 1 to 63 characters.")
        if not set(label) <= _LABEL_CHARS or label.startswith("-") or label.endswith("-"):
            raise InvalidDomain("invalid_domain", f"Label '{label}' has characters a host name cannot use.")
    if len(labels) < 2:
        raise InvalidDomain("invalid_domain", f"'{raw}' needs at least two labels (e.g. example.com).")
    if len(ascii_name) > 253:
        raise InvalidDomain("invalid_domain", "The domain is longer than 253 characters.")
    if labels[-1].isdigit():
        raise InvalidDomain("invalid_domain", f"'{raw}' has a numeric top-level label.")
    if not new:
        return ascii_name
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        raise InvalidDomain(
            "invalid_domain",
            f"The domain is {len(ascii_name)} characters; at most {MAX_DOMAIN_LENGTH} leave room for "
            f"its DNS records ({LONGEST_PREFIX}… must stay within 253).",
        )
    # DNS allows '_' (_dmarc, _domainkey), but a host name, and so a domain Microsoft 365 adds,
    # is letters, digits and hyphens only: Microsoft refuses the rest.
    if underscored := next((label for label in labels if "_" in label), None):
        raise InvalidDomain(
            "invalid_domain", f"Label '{underscored}' has an underscore: a domain is letters, digits and hyphens."
        )
    tld = labels[-1]
    if not (tld.isalpha() or tld.startswith("xn--")):
        raise InvalidDomain("invalid_domain", f"'.{tld}' is not a top-level domain: letters only (or xn--).")
    if not is_known_tld(tld):
        raise InvalidDomain("invalid_domain", f"'.{tld}' is not a top-level domain (not in the public suffix list).")
    if _PSL.is_public(ascii_name):
        # co.uk, github.io: names are registered under it, nobody owns it; its zone file would be nonsense.
        raise InvalidDomain(
            "invalid_domain",
            f"'{ascii_name}' is a public suffix: names are registered under it (e.g. yourname.{ascii_name}).",
        )
    return ascii_name


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def is_microsoft_domain(name: str) -> bool:
    """A name Microsoft gives every tenant (`contoso.onmicrosoft.com`, and
    `contoso.mail.onmicrosoft.com` for mail routing): never a custom domain."""
    name = name.lower().rstrip(".")
    return name == "onmicrosoft.com" or name.endswith(".onmicrosoft.com")
