"""Domain blocklists (RHSBLs) over DNS: which lists, what to ask them, and what their answers mean.

A list is asked for an A record at `<domain>.<zone>`. NXDOMAIN means not listed; an answer is
a return code in 127.0.0.0/8 whose meaning each list documents, and some of those codes are
not listings at all but the list refusing the question (asked through a public resolver, over
its free-use limit, a mistyped zone). Those, and a query that got no answer (timeout,
SERVFAIL), leave the domain's listing `unknown`: never `clean`.

Return codes, as the lists document them:

- Spamhaus DBL (`dbl.spamhaus.org`; with a DQS key `<key>.dbl.dq.spamhaus.net`):
  127.0.1.2 spam, .4 phishing, .5 malware, .6 botnet C&C; 127.0.1.102-106 the same for
  abused legitimate domains (.103 an abused redirector). Errors, not listings:
  127.255.255.252 typo in the zone, .254 query through a public/open resolver, .255 excessive
  number of queries; the rest of 127.255.255.0/24 (e.g. a DQS key that is not valid) and
  127.0.1.255 (an IP asked of a domain list) are errors too.
- SURBL (`multi.surbl.org`): 127.0.0.x, x a bitmask: 8 PH phishing, 16 MW malware, 64 ABUSE,
  128 CR cracked sites; 127.0.0.1 is "access blocked" (not a listing).
- URIBL (`multi.uribl.com`): 127.0.0.x, x a bitmask: 2 black, 4 grey, 8 red (14: all three);
  127.0.0.1 is "query refused" (public resolver, or over the free limit; not a listing).
- Any other zone: any 127.0.0.0/8 answer is a listing, except 127.255.255.0/24 (errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from tenantcore.dnshealth.lookup import Answer, Outcome
from tenantcore.dnshealth.names import normalize, registrable_zone

LISTED: Final = "listed"
CLEAN: Final = "clean"
UNKNOWN: Final = "unknown"


class ListKind(StrEnum):
    SPAMHAUS = "spamhaus"
    SURBL = "surbl"
    URIBL = "uribl"
    RHSBL = "rhsbl"  # any other domain list: 127.0.0.0/8 listed, 127.255.255.0/24 errors


SPAMHAUS_DBL: Final = "dbl.spamhaus.org"
SURBL_MULTI: Final = "multi.surbl.org"
URIBL_MULTI: Final = "multi.uribl.com"
DEFAULT_BLOCKLISTS: Final = (SPAMHAUS_DBL, SURBL_MULTI, URIBL_MULTI)
DQS_DBL_ZONE: Final = "dbl.dq.spamhaus.net"
_KNOWN: Final = {SPAMHAUS_DBL: ListKind.SPAMHAUS, SURBL_MULTI: ListKind.SURBL, URIBL_MULTI: ListKind.URIBL}

# Where a listed domain's owner asks for removal (or looks up why), per kind.
REMOVAL: Final = {
    ListKind.SPAMHAUS: "https://check.spamhaus.org/",
    ListKind.SURBL: "https://www.surbl.org/surbl-analysis",
    ListKind.URIBL: "https://admin.uribl.com/",
    ListKind.RHSBL: "the list operator's lookup page",
}

_SPAMHAUS_CODES: Final = {
    "127.0.1.2": "spam domain",
    "127.0.1.4": "phishing domain",
    "127.0.1.5": "malware domain",
    "127.0.1.6": "botnet C&C domain",
    "127.0.1.102": "abused legitimate domain: spam",
    "127.0.1.103": "abused legitimate domain: spammed redirector",
    "127.0.1.104": "abused legitimate domain: phishing",
    "127.0.1.105": "abused legitimate domain: malware",
    "127.0.1.106": "abused legitimate domain: botnet C&C",
}
_SPAMHAUS_ERRORS: Final = {
    "127.255.255.252": "typo in the blocklist zone queried",
    "127.255.255.254": "query through a public/open resolver, which Spamhaus refuses",
    "127.255.255.255": "excessive number of queries (rate limited)",
    "127.0.1.255": "IP queries are not allowed on a domain list",
}
_SURBL_BITS: Final = ((8, "PH phishing"), (16, "MW malware"), (64, "ABUSE spam/abuse"), (128, "CR cracked site"))
_URIBL_BITS: Final = ((2, "black"), (4, "grey"), (8, "red"))


@dataclass(frozen=True, slots=True)
class Blocklist:
    """One list. `name` is the zone as configured, what reports, findings and events show;
    `query_zone` is where the questions go, and holds the DQS key when there is one, so it is
    kept out of every repr and output."""

    name: str
    kind: ListKind
    query_zone: str = field(repr=False)

    @property
    def clean(self) -> BlocklistResult:
        """The usual verdict (frozen, so one object serves every domain)."""
        return _clean_result(self.name, self.kind)

    def names_for(self, domain: str) -> tuple[str, ...]:
        """The names to ask about: SURBL and URIBL list registrable domains only; Spamhaus DBL
        and other lists may also list a host name, so a subdomain is asked for as well."""
        zone = registrable_zone(domain)
        if self.kind in (ListKind.SURBL, ListKind.URIBL) or zone == domain:
            return (zone,)
        return (domain, zone)

    def question(self, name: str) -> str:
        return f"{name}.{self.query_zone}"


def parse_blocklists(entries: Iterable[str], dqs_key: str | None = None) -> tuple[Blocklist, ...]:
    """Lists from settings entries, each `ZONE` or `KIND:ZONE` (KIND: spamhaus, surbl, uribl,
    rhsbl). The three public zones are known by name; any other zone without a kind is read
    as a plain RHSBL. With a Spamhaus DQS key, Spamhaus lists are asked at
    `<key>.dbl.dq.spamhaus.net` (for dbl.spamhaus.org) or `<key>.<zone>` (another Spamhaus
    zone, e.g. a DQS-style test zone). Raises ValueError on a malformed entry."""
    lists: list[Blocklist] = []
    seen: set[str] = set()
    key = (dqs_key or "").strip().strip(".")
    if key and ("." in key or not key.replace("-", "").isalnum()):
        raise ValueError("the Spamhaus DQS key is one DNS label (letters and digits)")
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        kind_text, _, zone_text = text.rpartition(":")
        zone = normalize(zone_text) if zone_text.strip() else ""
        if "." not in zone or " " in zone:
            raise ValueError(f"not a blocklist zone: {entry!r}")
        if kind_text:
            try:
                kind = ListKind(kind_text.strip().lower())
            except ValueError:
                raise ValueError(
                    f"unknown blocklist kind {kind_text!r} in {entry!r} (spamhaus, surbl, uribl, rhsbl)"
                ) from None
        else:
            kind = _KNOWN.get(zone, ListKind.RHSBL)
        if zone in seen:
            continue
        seen.add(zone)
        query_zone = zone
        if kind is ListKind.SPAMHAUS and key:
            query_zone = f"{key}.{DQS_DBL_ZONE if zone == SPAMHAUS_DBL else zone}"
        lists.append(Blocklist(zone, kind, query_zone))
    return tuple(lists)


@dataclass(frozen=True, slots=True)
class BlocklistResult:
    """What one list said about a domain. `status`: listed, clean or unknown; `codes` the A
    records it answered; `reasons` what they mean (listed) and `problem` why the answer says
    nothing (unknown); `refused` when the list itself refused the question (as opposed to no
    answer at all)."""

    blocklist: str
    kind: ListKind
    status: str
    codes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    problem: str = ""
    refused: bool = False
    listed_name: str = ""  # which name is listed (the domain or its registrable zone)

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocklist": self.blocklist,
            "kind": self.kind.value,
            "status": self.status,
            "codes": list(self.codes),
            "reasons": list(self.reasons),
            "problem": self.problem,
            "refused": self.refused,
            "listed_name": self.listed_name,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BlocklistResult:
        """A verdict as stored (`to_dict`), to be reused until the list is asked again."""
        return cls(
            blocklist=str(raw["blocklist"]),
            kind=ListKind(raw.get("kind", ListKind.RHSBL.value)),
            status=str(raw.get("status", UNKNOWN)),
            codes=tuple(raw.get("codes", ())),
            reasons=tuple(raw.get("reasons", ())),
            problem=str(raw.get("problem", "")),
            refused=bool(raw.get("refused", False)),
            listed_name=str(raw.get("listed_name", "")),
        )


@lru_cache(maxsize=256)
def _clean_result(name: str, kind: ListKind) -> BlocklistResult:
    return BlocklistResult(name, kind, CLEAN)


def _bits(last: int, table: Sequence[tuple[int, str]]) -> list[str]:
    found = [label for bit, label in table if last & bit]
    rest = last & ~sum(bit for bit, _ in table) & ~1
    if rest:
        found.append(f"other list bits {rest}")
    return found


def read_code(kind: ListKind, code: str) -> tuple[str, str]:
    """One return code: (listed | refused | unexpected, what it means)."""
    parts = code.split(".")
    if len(parts) != 4 or parts[0] != "127" or not all(p.isdigit() for p in parts):
        # Not a list's answer at all: typically a resolver that rewrites NXDOMAIN into an ad
        # server's address. It proves nothing either way.
        return "unexpected", f"answer {code} is outside 127.0.0.0/8 (a resolver rewriting NXDOMAIN?)"
    if parts[:3] == ["127", "255", "255"]:
        if kind is ListKind.SPAMHAUS and code in _SPAMHAUS_ERRORS:
            return "refused", _SPAMHAUS_ERRORS[code]
        return "refused", "error code from the list's error range (e.g. a DQS key that is not valid)"
    last = int(parts[3])
    if kind is ListKind.SPAMHAUS:
        if code in _SPAMHAUS_CODES:
            return "listed", _SPAMHAUS_CODES[code]
        if code in _SPAMHAUS_ERRORS:
            return "refused", _SPAMHAUS_ERRORS[code]
        if parts[:3] == ["127", "0", "1"]:
            return "listed", f"undocumented DBL code {code}"
        return "unexpected", f"answer {code} is not a DBL return code"
    if kind in (ListKind.SURBL, ListKind.URIBL):
        if parts[:3] != ["127", "0", "0"]:
            return "unexpected", f"answer {code} is not a {kind.value.upper()} return code"
        if last == 1:
            if kind is ListKind.SURBL:
                return "refused", "access blocked (public resolver or over the free-use limit)"
            return "refused", "query refused (public resolver or over the free-use limit)"
        labels = _bits(last, _SURBL_BITS if kind is ListKind.SURBL else _URIBL_BITS)
        return "listed", ", ".join(labels) if labels else f"code {code}"
    return "listed", f"code {code}"


def read_answers(blocklist: Blocklist, names: Sequence[str], answers: Sequence[Answer]) -> BlocklistResult:
    """Judge a list's answers for the names asked (`Blocklist.names_for`): listed if any name is
    listed; else unknown if any answer says nothing (no answer, a refusal, an unexpected
    address); clean only when every name got NXDOMAIN (or no A record)."""
    kind = blocklist.kind
    problems: list[str] = []
    refused = False
    for name, answer in zip(names, answers, strict=True):
        if answer.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or (answer.outcome is Outcome.OK and not answer.values):
            continue
        if answer.outcome is not Outcome.OK:
            detail = f", {answer.detail}" if answer.detail else ""
            problems.append(f"{name}.{blocklist.name} A: {answer.outcome.value}{detail}")
            continue
        codes = tuple(sorted(answer.values))
        listed = []
        for code in codes:
            verdict, meaning = read_code(kind, code)
            if verdict == "listed":
                listed.append(meaning)
            else:
                refused = refused or verdict == "refused"
                problems.append(f"{meaning} ({code})")
        if listed:
            return BlocklistResult(blocklist.name, kind, LISTED, codes, tuple(listed), listed_name=name)
    if problems:
        return BlocklistResult(blocklist.name, kind, UNKNOWN, problem="; ".join(problems), refused=refused)
    return blocklist.clean


def overall(results: Sequence[BlocklistResult]) -> str | None:
    """listed if any list lists the domain, else unknown if any could not say, else clean;
    None when no list was asked."""
    if not results:
        return None
    statuses = {r.status for r in results}
    for status in (LISTED, UNKNOWN):
        if status in statuses:
            return status
    return CLEAN
