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
    """A parsed record. The derived fields are computed once, in `parse_spf`, whose cache
    shares them between every domain publishing the same text."""

    text: str
    terms: tuple[Term, ...] = ()
    redirect: str | None = None
    errors: tuple[str, ...] = ()
    all_qualifier: str | None = None
    lookup_terms: int = 0  # lookups this record costs by itself (includes and redirect counted, not followed)
    includes: tuple[str, ...] = ()
    followed: tuple[str, ...] = ()  # names whose SPF records are part of this one's evaluation
    uses_ptr: bool = False


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
    all_qualifier = next((t.qualifier for t in terms if t.mechanism == "all"), None)
    includes = tuple(t.value.lower() for t in terms if t.mechanism == "include" and t.value)
    followed = includes + ((redirect.lower(),) if redirect and all_qualifier is None else ())
    return SpfRecord(
        text,
        tuple(terms),
        redirect,
        tuple(errors),
        all_qualifier=all_qualifier,
        lookup_terms=sum(1 for t in terms if t.mechanism in LOOKUP_MECHANISMS) + (1 if redirect else 0),
        includes=includes,
        followed=followed,
        uses_ptr=any(t.mechanism == "ptr" for t in terms),
    )
