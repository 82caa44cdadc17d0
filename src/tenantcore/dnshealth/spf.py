"""SPF records (RFC 7208): terms, the `all` qualifier, and the DNS-lookup budget.

Only what a sending-domain health check needs: which mechanisms cost a lookup, which names
to follow (include, redirect), and syntax errors that make receivers return permerror.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Mechanisms and modifiers that cost one DNS lookup each towards the limit of 10 (§4.6.4).
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str  # + - ~ ?
    mechanism: str
    value: str | None


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...] = ()
    redirect: str | None = None
    errors: tuple[str, ...] = ()

    @property
    def all_qualifier(self) -> str | None:
        for term in self.terms:
            if term.mechanism == "all":
                return term.qualifier
        return None

    @property
    def lookup_terms(self) -> int:
        """Lookups this record costs by itself (includes and redirect counted, not followed)."""
        own = sum(1 for t in self.terms if t.mechanism in LOOKUP_MECHANISMS)
        return own + (1 if self.redirect else 0)

    @property
    def includes(self) -> list[str]:
        return [t.value.lower() for t in self.terms if t.mechanism == "include" and t.value]

    @property
    def followed(self) -> list[str]:
        """Names whose SPF records are part of this one's evaluation."""
        names = self.includes
        if self.redirect and self.all_qualifier is None:
            names.append(self.redirect.lower())
        return names

    @property
    def uses_ptr(self) -> bool:
        return any(t.mechanism == "ptr" for t in self.terms)


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


@lru_cache(maxsize=4096)
def parse_spf(text: str) -> SpfRecord:
    """Parse once per distinct text: thousands of domains share the same few SPF records."""
    terms: list[Term] = []
    errors: list[str] = []
    redirect = None
    for part in text.split()[1:]:
        match = _MODIFIER.match(part)
        if match and ":" not in match.group(1):
            if match.group(1).lower() == "redirect":
                redirect = match.group(2)
            continue
        qualifier = "+"
        if part[0] in "+-~?":
            qualifier, part = part[0], part[1:]
        mechanism, _, value = part.partition(":")
        mechanism = mechanism.split("/", 1)[0].lower()  # a/24, mx/24
        if mechanism not in MECHANISMS:
            errors.append(f"unknown mechanism '{part}'")
            continue
        if mechanism in ("include", "exists", "ip4", "ip6") and not value:
            errors.append(f"'{mechanism}' needs a value")
            continue
        terms.append(Term(qualifier, mechanism, value or None))
    return SpfRecord(text, tuple(terms), redirect, tuple(errors))
