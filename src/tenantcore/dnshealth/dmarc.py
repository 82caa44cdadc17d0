"""DMARC records (RFC 7489, and the tags RFC 9989 removed)."""

from __future__ import annotations

from dataclasses import dataclass, field

POLICIES = frozenset({"none", "quarantine", "reject"})
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})


@dataclass(slots=True)
class DmarcRecord:
    text: str
    tags: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def policy(self) -> str | None:
        return self.tags.get("p")


def is_dmarc(text: str) -> bool:
    return text.replace(" ", "").lower().startswith("v=dmarc1")


def looks_like_dmarc(text: str) -> bool:
    """Anything that was meant to be DMARC, even with `v=` misplaced."""
    return "v=dmarc1" in text.replace(" ", "").lower()


def parse_dmarc(text: str) -> DmarcRecord:
    record = DmarcRecord(text)
    pairs = [p.strip() for p in text.split(";") if p.strip()]
    for index, pair in enumerate(pairs):
        name, sep, value = pair.partition("=")
        name = name.strip().lower()
        if not sep:
            record.errors.append(f"'{pair}' is not a tag=value pair")
            continue
        if index == 0 and name != "v":
            record.errors.append("the record must start with v=DMARC1")
        if name in record.tags:
            record.errors.append(f"tag '{name}' appears twice")
        record.tags[name] = value.strip()
    if record.tags.get("v", "").upper() != "DMARC1":
        record.errors.append("v=DMARC1 is missing or wrong")
    policy = record.policy
    if policy is None:
        record.errors.append("the p= tag (policy) is missing")
    elif policy.lower() not in POLICIES:
        record.errors.append(f"p={policy} is not none, quarantine or reject")
    return record
