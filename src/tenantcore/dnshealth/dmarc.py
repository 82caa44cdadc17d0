"""DMARC records (RFC 7489, and the tags RFC 9989 removed)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

POLICIES = frozenset({"none", "quarantine", "reject"})
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    text: str
    tags: dict[str, str]
    errors: tuple[str, ...]

    @property
    def policy(self) -> str | None:
        return self.tags.get("p")


def is_dmarc(text: str) -> bool:
    return text.replace(" ", "").lower().startswith("v=dmarc1")


def looks_like_dmarc(text: str) -> bool:
    """Anything that was meant to be DMARC, even with `v=` misplaced."""
    return "v=dmarc1" in text.replace(" ", "").lower()


@lru_cache(maxsize=4096)
def parse_dmarc(text: str) -> DmarcRecord:
    tags: dict[str, str] = {}
    errors: list[str] = []
    pairs = [p.strip() for p in text.split(";") if p.strip()]
    for index, pair in enumerate(pairs):
        name, sep, value = pair.partition("=")
        name = name.strip().lower()
        if not sep:
            errors.append(f"'{pair}' is not a tag=value pair")
            continue
        if index == 0 and name != "v":
            errors.append("the record must start with v=DMARC1")
        if name in tags:
            errors.append(f"tag '{name}' appears twice")
        tags[name] = value.strip()
    if tags.get("v", "").upper() != "DMARC1":
        errors.append("v=DMARC1 is missing or wrong")
    policy = tags.get("p")
    if policy is None:
        errors.append("the p= tag (policy) is missing")
    elif policy.lower() not in POLICIES:
        errors.append(f"p={policy} is not none, quarantine or reject")
    return DmarcRecord(text, tags, tuple(errors))
