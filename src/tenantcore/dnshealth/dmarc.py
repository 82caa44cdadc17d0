"""DMARC records, parsed to RFC 7489's grammar and what RFC 9989 (DMARCbis, May 2026, which
obsoletes RFC 7489 and RFC 9091) changed: `np`, `t` and `psd` added, `pct`, `rf` and `ri`
removed, a missing `p` read as `none`, tags after `v` in any order.

The parser says what a receiver would make of each tag, not only whether the text parses:
`errors` are faults that break the record itself (no `v=DMARC1` first, a duplicate tag, a
term that is no tag=value pair); `tag_errors` are values outside a tag's grammar, which
receivers drop in favour of the tag's default; `uri_errors` are `rua`/`ruf` addresses no
report will be sent to. `report_hosts` are the mail domains the valid `mailto:` addresses
name, for the external-destination check (RFC 7489 §7.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tenantcore.dnshealth.names import registrable_zone

POLICIES = frozenset({"none", "quarantine", "reject"})
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})
# Every tag RFC 7489 or RFC 9989 defines; others are ignored by receivers (both RFCs say so).
KNOWN_TAGS = frozenset({"v", "p", "sp", "np", "adkim", "aspf", "fo", "rf", "ri", "pct", "rua", "ruf", "t", "psd"})
# External report destinations verified per check (RFC 7489 §7.1 asks one TXT lookup each);
# the rest are reported as not verified rather than costing unbounded queries.
MAX_REPORT_AUTH_LOOKUPS = 8
MAX_INTERVAL = 2**32 - 1  # ri is a 32-bit unsigned integer (RFC 7489 §6.3)

_TAG_NAME = re.compile(r"[A-Za-z]+")
# RFC 3986 scheme, then the rest of the URI; a trailing "!size[kmgt]" is RFC 7489's size limit
# (a literal "!" inside the URI must be percent-encoded, so the last one starts the limit).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.+)")
_SIZE = re.compile(r"[0-9]+[kmgtKMGT]?")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
_FO = frozenset({"0", "1", "d", "s"})


@dataclass(frozen=True, slots=True)
class TagProblem:
    """A tag whose value is outside its grammar: receivers ignore it and use `default`."""

    tag: str
    value: str
    allowed: str  # what the value may be, in the operator's words
    default: str  # what receivers apply instead


@dataclass(frozen=True, slots=True)
class UriProblem:
    """One `rua`/`ruf` entry no report will be sent to."""

    tag: str
    uri: str
    problem: str


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    text: str
    tags: dict[str, str]
    errors: tuple[str, ...]
    tag_errors: tuple[TagProblem, ...] = ()
    uri_errors: tuple[UriProblem, ...] = ()
    unknown_tags: tuple[str, ...] = ()
    order: tuple[str, ...] = ()  # tag names as written
    report_hosts: tuple[tuple[str, str], ...] = ()  # (rua|ruf, mail domain) of each valid mailto:

    @property
    def policy(self) -> str | None:
        return self.tags.get("p")

    @property
    def valid_policy(self) -> str | None:
        """p in lower case when it is one of the three policies, else None."""
        return _policy(self.tags.get("p"))

    @property
    def has_valid_rua(self) -> bool:
        """At least one `rua` address a report can go to (RFC 7489 §6.6.3 keeps a record
        without a valid p as p=none only then)."""
        return any(tag == "rua" for tag, _ in self.report_hosts)

    def subdomain_policy(self, *, exists: bool = True) -> tuple[str, str]:
        """(policy, the tag it came from) a subdomain without its own record inherits from
        this organizational-domain record: np for a subdomain that does not exist (RFC 9989,
        RFC 9091), else sp, else p, else none (a record without a valid p reads as p=none)."""
        if not exists:
            np = _policy(self.tags.get("np"))
            if np is not None:
                return np, "np"
        sp = _policy(self.tags.get("sp"))
        if sp is not None:
            return sp, "sp"
        p = self.valid_policy
        return (p, "p") if p is not None else ("none", "p")


def _policy(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.lower()
    return lowered if lowered in POLICIES else None


def is_dmarc(text: str) -> bool:
    return text.replace(" ", "").lower().startswith("v=dmarc1")


def looks_like_dmarc(text: str) -> bool:
    """Anything that was meant to be DMARC, even with `v=` misplaced."""
    return "v=dmarc1" in text.replace(" ", "").lower()


def _is_hostname(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return len(labels) >= 2 and len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _check_uri(tag: str, entry: str) -> tuple[UriProblem | None, str | None]:
    """(problem, mail domain): the domain when `entry` is a valid mailto: address."""
    uri, bang, size = entry.rpartition("!") if "!" in entry else (entry, "", "")
    if bang and not _SIZE.fullmatch(size):
        return UriProblem(tag, entry, f"has a malformed size limit '!{size}' (digits, then k, m, g or t)"), None
    scheme_match = _SCHEME.fullmatch(uri)
    if scheme_match is None:
        if "@" in uri:
            return UriProblem(tag, entry, "is not a URI: 'mailto:' is missing in front of the address"), None
        return UriProblem(tag, entry, "is not a URI"), None
    scheme, rest = scheme_match.group(1).lower(), scheme_match.group(2)
    if scheme != "mailto":
        return UriProblem(tag, entry, f"uses {scheme}:, but receivers only send reports to mailto: addresses"), None
    address = rest.partition("?")[0]
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local) or not _is_hostname(domain):
        return UriProblem(tag, entry, f"has an invalid e-mail address '{address}'"), None
    return None, domain.rstrip(".").lower()


def _check_value(tag: str, value: str) -> TagProblem | None:
    lowered = value.lower()
    if tag in ("sp", "np"):
        if lowered not in POLICIES:
            default = "the p= policy" if tag == "sp" else "the sp= policy (or p= without sp=)"
            return TagProblem(tag, value, "none, quarantine or reject", default)
    elif tag in ("adkim", "aspf"):
        if lowered not in ("r", "s"):
            return TagProblem(tag, value, "r (relaxed) or s (strict)", "r (relaxed)")
    elif tag == "fo":
        if not all(part.strip().lower() in _FO for part in value.split(":")):
            return TagProblem(tag, value, "0, 1, d or s, several separated by colons (e.g. 1:d)", "0")
    elif tag == "pct":
        if not (value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 100):
            return TagProblem(tag, value, "a whole number from 0 to 100", "100")
    elif tag == "ri":
        if not (value.isascii() and value.isdigit() and int(value) <= MAX_INTERVAL):
            return TagProblem(tag, value, "a number of seconds (a 32-bit unsigned integer)", "86400 (one day)")
    elif tag == "rf":
        if not all(part.strip().lower() == "afrf" for part in value.split(":")):
            return TagProblem(tag, value, "afrf (the only failure-report format defined)", "afrf")
    elif tag == "t":
        if lowered not in ("y", "n"):
            return TagProblem(tag, value, "y (testing) or n", "n (apply the policy)")
    elif tag == "psd" and lowered not in ("y", "n", "u"):
        return TagProblem(tag, value, "y, n or u", "u (not a public suffix domain)")
    return None


@lru_cache(maxsize=4096)
def parse_dmarc(text: str) -> DmarcRecord:
    tags: dict[str, str] = {}
    errors: list[str] = []
    tag_errors: list[TagProblem] = []
    uri_errors: list[UriProblem] = []
    unknown: list[str] = []
    order: list[str] = []
    hosts: list[tuple[str, str]] = []
    pairs = [p.strip() for p in text.split(";") if p.strip()]
    for index, pair in enumerate(pairs):
        raw_name, sep, raw_value = pair.partition("=")
        name = raw_name.strip().lower()
        value = raw_value.strip()
        if not sep or not _TAG_NAME.fullmatch(name):
            errors.append(f"'{pair}' is not a tag=value pair")
            continue
        if index == 0 and name != "v":
            errors.append("the record must start with v=DMARC1")
        if name in tags:
            errors.append(f"tag '{name}' appears twice")
            continue  # receivers use the first
        tags[name] = value
        order.append(name)
        if name not in KNOWN_TAGS:
            unknown.append(name)
        elif name in ("rua", "ruf"):
            for entry in value.split(","):
                problem, host = _check_uri(name, entry.strip())
                if problem is not None:
                    uri_errors.append(problem)
                elif host is not None:
                    hosts.append((name, host))
        elif name not in ("v", "p"):
            problem = _check_value(name, value)
            if problem is not None:
                tag_errors.append(problem)
    version = tags.get("v")
    if version is None:
        errors.append("v=DMARC1 is missing")
    elif version != "DMARC1":
        # Case-sensitive in both RFCs' grammar; RFC 9989 §4.7: otherwise the record is ignored.
        errors.append(f"v={version} must be exactly v=DMARC1 (upper case): receivers ignore the whole record")
    return DmarcRecord(
        text, tags, tuple(errors), tuple(tag_errors), tuple(uri_errors), tuple(unknown), tuple(order), tuple(hosts)
    )


def external_report_hosts(record: DmarcRecord, domain: str) -> list[tuple[str, str]]:
    """(tag, host) of each report destination outside the policy domain's organizational
    domain, first seen first: those need the target's consent (RFC 7489 §7.1)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    registrable = ""
    for tag, host in record.report_hosts:
        if host == domain or host in seen:  # the usual rua=mailto:dmarc@<domain>: no PSL lookup
            continue
        registrable = registrable or registrable_zone(domain)
        if host == registrable or host.endswith("." + registrable):
            continue
        seen.add(host)
        out.append((tag, host))
    return out


def report_auth_name(domain: str, host: str) -> str:
    """Where `host` says it accepts reports about `domain` (RFC 7489 §7.1)."""
    return f"{domain}._report._dmarc.{host}"
