"""SPF records (RFC 7208): parsed to the grammar of its section 12, plus the DNS-lookup budget.

A receiver that meets any term outside the grammar stops and returns permerror, which DMARC
and most receivers treat as an SPF failure for every message. So every term is checked the
way a receiver checks it: mechanism names and their arguments, dual CIDR lengths, ip4/ip6
networks, domain-specs (macro-string ending in a top label or a macro), modifiers (redirect
and exp at most once each, unknown ones must still be macro-strings), and the characters
themselves (printable ASCII, terms separated by spaces only).

Only what a sending-domain health check needs beyond that: which terms cost a lookup, which
names to follow (include, redirect), and which DNS names the a/mx/exists terms query, so the
check can count void lookups and MX names without a client IP.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

# Mechanisms and modifiers that cost one DNS lookup each towards the limit of 10 (§4.6.4).
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
MAX_MX_NAMES = 10  # §4.6.4: an mx term whose MX answer names more hosts is a permerror

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$", re.DOTALL)
_MECHANISM = re.compile(r"^([A-Za-z0-9]*)(.*)$", re.DOTALL)
# §12: dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ], taken from the end.
_DUAL_CIDR = re.compile(r"(?:/(\d+))?(?://(\d+))?$")
_IP4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_MACRO_EXPAND = re.compile(r"%(?:\{([A-Za-z])(\d*)([rR]?)([-.+,/_=]*)\}|[%_-])")
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(r"^(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]+$|^[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]$")
MACRO_LETTERS = frozenset("slodiphv")  # §7.2; c, r and t only in an explanation's text
_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))

_FIX_DOMAIN = "Write a full domain name there, e.g. include:_spf.example.com or a:mail.example.com."
_FIX_REMOVE = (
    "Remove the term, or correct it to one of: all, include:, a, mx, ptr, ip4:, ip6:, exists:, redirect=, exp=."
)


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str  # + - ~ ?
    mechanism: str
    value: str | None


@dataclass(frozen=True, slots=True)
class SpfProblem:
    """One reason a receiver returns permerror: the offending term as published, why, and the fix."""

    term: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"'{self.term}': {self.problem}"


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed record. The derived fields are computed once, in `parse_spf`, whose cache
    shares them between every domain publishing the same text."""

    text: str
    terms: tuple[Term, ...] = ()
    redirect: str | None = None
    problems: tuple[SpfProblem, ...] = ()
    all_qualifier: str | None = None
    lookup_terms: int = 0  # lookups this record costs by itself (includes and redirect counted, not followed)
    includes: tuple[str, ...] = ()
    followed: tuple[str, ...] = ()  # names whose SPF records are part of this one's evaluation
    uses_ptr: bool = False
    # (term, name, type) each a/mx/exists term asks, name "" for the record's own domain;
    # terms with macros are left out (they need a sender to expand).
    queries: tuple[tuple[str, str, str], ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.problems)


def is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def _macro_problem(text: str) -> str | None:
    """Why `text` is not a macro-string (§7.1) usable in a domain-spec or modifier, or None.
    (c, r and t are only for an explanation's text, which the exp= name points at.)"""
    letters = MACRO_LETTERS
    at = 0
    while True:
        at = text.find("%", at)
        if at < 0:
            return None
        match = _MACRO_EXPAND.match(text, at)
        if match is None:
            rest = text[at : at + 3]
            return f"'{rest}' is not a macro: write %% for a literal percent sign, macros are %{{letter}}"
        letter = match.group(1)
        if letter is not None and letter.lower() not in letters:
            if letter.lower() in "crt":
                return f"the macro %{{{letter}}} is only allowed in an explanation's text, not in a domain"
            return f"%{{{letter}}} is not a macro letter (s, l, o, d, i, p, h, v)"
        at = match.end()


def _domain_problem(spec: str) -> str | None:
    """Why `spec` is not a domain-spec (§7.1: macro-string ending in "." toplabel or a macro)."""
    if not spec:
        return "the domain is missing"
    problem = _macro_problem(spec)
    if problem is not None:
        return problem
    if "%" in spec:
        expands = list(_MACRO_EXPAND.finditer(spec))
        if expands and expands[-1].end() == len(spec):
            return None  # domain-end may be a macro-expand
    name = spec[:-1] if spec.endswith(".") else spec
    head, dot, top = name.rpartition(".")
    if not dot:
        return f"'{spec}' is not a full domain name (it needs a dot and a top-level label)"
    if not head:
        return f"'{spec}' has nothing before its top-level label"
    if "%" not in name and any(not label or len(label) > 63 for label in name.split(".")):
        return f"'{spec}' has an empty label or one over 63 characters"
    if not _TOPLABEL.match(top):
        if top.isdigit():
            return f"its top-level label '{top}' is all digits (an IP address is not a domain here)"
        return f"its top-level label '{top}' is not a valid label (letters, digits, inner hyphens)"
    return None


def _cidr_problem(digits: str | None, limit: int, what: str) -> str | None:
    if digits is None:
        return None
    if len(digits) > 1 and digits[0] == "0":
        return f"the {what} prefix length /{digits} has a leading zero"
    if int(digits) > limit:
        return f"the {what} prefix length /{digits} is over {limit}"
    return None


def _check_term(name: str, rest: str) -> tuple[str | None, str | None, str | None]:
    """(problem, fix, domain-spec) for a known mechanism and what follows its name."""
    if name == "all":
        if rest:
            return "'all' takes no argument or prefix length", "Write just -all (or ~all).", None
        return None, None, None
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            return f"'{name}' needs a domain: {name}:<domain>", _FIX_DOMAIN, None
        spec = rest[1:]
        problem = _domain_problem(spec)
        if problem is None:
            return None, None, spec
        head, slash, tail = spec.rpartition("/")
        if slash and tail.isdigit() and _domain_problem(head) is None:
            return f"'{name}' takes no prefix length", f"Drop the /{tail}: {name}:{head}.", None
        return problem, _FIX_DOMAIN, None
    if name in ("a", "mx", "ptr"):
        spec = None
        if name != "ptr":
            cidr = _DUAL_CIDR.search(rest)
            assert cidr is not None  # the pattern matches the empty string
            ip4, ip6 = cidr.group(1), cidr.group(2)
            problem = _cidr_problem(ip4, 32, "IPv4") or _cidr_problem(ip6, 128, "IPv6")
            if problem is not None:
                return problem, "Use /0-/32 for IPv4 and //0-//128 for IPv6, e.g. a/24//64.", None
            rest = rest[: cidr.start()]
        if rest:
            if not rest.startswith(":"):
                what = "takes no prefix length" if name == "ptr" else "has a malformed prefix length"
                return f"'{name}' {what} ('{rest}')", f"Write {name}, {name}:<domain> or {name}/24//64.", None
            spec = rest[1:]
            problem = _domain_problem(spec)
            if problem is not None:
                return problem, _FIX_DOMAIN, None
        return None, None, spec
    # ip4, ip6
    if not rest.startswith(":") or len(rest) == 1:
        return f"'{name}' needs a network: {name}:<address>[/length]", "Write e.g. ip4:192.0.2.0/24.", None
    network, slash, length = rest[1:].partition("/")
    limit = 32 if name == "ip4" else 128
    if slash:
        if not length.isdigit():
            return f"'/{length}' is not a prefix length", f"Write one prefix length, /0 to /{limit}.", None
        problem = _cidr_problem(length, limit, "IPv4" if name == "ip4" else "IPv6")
        if problem is not None:
            return problem, f"Write one prefix length, /0 to /{limit}.", None
    if name == "ip4":
        if not _IP4.match(network):
            return f"'{network}' is not an IPv4 address", "Write four numbers 0-255 separated by dots.", None
    else:
        try:
            ipaddress.IPv6Address(network)
            valid = "%" not in network
        except ValueError:
            valid = False
        if not valid:
            return f"'{network}' is not an IPv6 address", "Write an IPv6 address, e.g. ip6:2001:db8::/32.", None
    return None, None, None


@lru_cache(maxsize=4096)
def parse_spf(text: str) -> SpfRecord:
    """Parse once per distinct text: thousands of domains share the same few SPF records."""
    terms: list[Term] = []
    problems: list[SpfProblem] = []
    queries: list[tuple[str, str, str]] = []
    redirect = exp = None
    for part in text.split(" ")[1:]:
        if not part:
            continue  # several spaces between terms, or a trailing one: allowed
        bad = next((c for c in part if c not in _PRINTABLE), None)
        if bad is not None:
            why = (
                "a line break or control character is inside the term (only spaces may separate terms)"
                if ord(bad) < 0x20 or ord(bad) == 0x7F
                else f"it contains the non-ASCII character {bad!r}"
            )
            problems.append(
                SpfProblem(part, why, "Retype the record in plain ASCII on one line, terms separated by spaces.")
            )
            continue
        modifier = _MODIFIER.match(part)
        if modifier is not None:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if (redirect if name == "redirect" else exp) is not None:
                    problems.append(
                        SpfProblem(part, f"'{name}=' appears more than once", f"Keep a single {name}= modifier.")
                    )
                    continue
                problem = _domain_problem(value)
                if problem is not None:
                    problems.append(SpfProblem(part, problem, _FIX_DOMAIN))
                    continue
                if name == "redirect":
                    redirect = value
                else:
                    exp = value
            else:
                problem = _macro_problem(value)
                if problem is not None:
                    problems.append(SpfProblem(part, problem, "Correct the macro or remove the modifier."))
            continue
        qualifier = "+"
        body = part
        if body[0] in "+-~?":
            qualifier, body = body[0], body[1:]
        match = _MECHANISM.match(body)
        assert match is not None  # the pattern matches any string
        mechanism, rest = match.group(1).lower(), match.group(2)
        if mechanism not in MECHANISMS:
            problems.append(
                SpfProblem(part, "unknown mechanism" if mechanism else "not a mechanism or modifier", _FIX_REMOVE)
            )
            continue
        problem, fix, spec = _check_term(mechanism, rest)
        if problem is not None:
            problems.append(SpfProblem(part, problem, fix or _FIX_REMOVE))
            continue
        terms.append(Term(qualifier, mechanism, rest[1:] if rest.startswith(":") else (rest or None)))
        if mechanism in ("a", "mx", "exists") and (spec is None or "%" not in spec):
            queries.append((part, (spec or "").rstrip(".").lower(), "MX" if mechanism == "mx" else "A"))
    all_qualifier = next((t.qualifier for t in terms if t.mechanism == "all"), None)
    includes = tuple(t.value.lower() for t in terms if t.mechanism == "include" and t.value and "%" not in t.value)
    if redirect is not None and "%" in redirect:
        followed_redirect: tuple[str, ...] = ()
    else:
        followed_redirect = (redirect.rstrip(".").lower(),) if redirect and all_qualifier is None else ()
    return SpfRecord(
        text,
        tuple(terms),
        redirect,
        tuple(problems),
        all_qualifier=all_qualifier,
        lookup_terms=sum(1 for t in terms if t.mechanism in LOOKUP_MECHANISMS) + (1 if redirect else 0),
        includes=tuple(i.rstrip(".") for i in includes),
        followed=tuple(i.rstrip(".") for i in includes) + followed_redirect,
        uses_ptr=any(t.mechanism == "ptr" for t in terms),
        queries=tuple(queries),
    )
