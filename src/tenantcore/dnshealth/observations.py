"""What a check observed for one domain: the DNS answers `check.py` gathers and `evaluate` judges.

Kept apart from the rules so that a test (or any caller with answers from elsewhere) can build
`Observations` from `Answer` objects and judge them without DNS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenantcore.dnshealth.blocklists import BlocklistResult
from tenantcore.dnshealth.lookup import Answer
from tenantcore.dnshealth.spf import SpfProblem


@dataclass(slots=True)
class SpfWalk:
    """What following the SPF record's includes and redirect found."""

    lookups: int = 0
    void_lookups: int = 0
    void_names: list[str] = field(default_factory=list)  # the names behind `void_lookups`, when known
    unknown: list[str] = field(default_factory=list)  # names whose lookup failed (timeout...)
    broken: list[str] = field(default_factory=list)  # names with no (or several) SPF records
    loop: bool = False
    # (included or redirected name, how it is reached, the problem) for every syntax error
    # in a record this one pulls in: receivers return permerror when they reach it.
    include_problems: list[tuple[str, str, SpfProblem]] = field(default_factory=list)
    # (mx term, name asked, MX hosts found) for every mx term naming more than MAX_MX_NAMES hosts.
    mx_too_many: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(slots=True)
class Observations:
    """The answers a check gathered for one domain."""

    domain: str
    apex_txt: Answer
    mx: Answer
    dmarc: Answer
    selectors: dict[str, Answer]
    autodiscover: Answer | None = None
    dmarc_elsewhere: list[Answer] = field(default_factory=list)  # probes made when DMARC is absent
    selector_txt: dict[str, Answer] = field(default_factory=dict)  # probes made when a CNAME is absent
    # `_dmarc.<organizational domain>`, asked only for a subdomain without a DMARC record of its own
    dmarc_org: Answer | None = None
    # `<domain>._report._dmarc.<host>` per external rua/ruf host (RFC 7489 §7.1), asked only for those
    dmarc_report_auth: dict[str, Answer] = field(default_factory=dict)
    spf_walk: SpfWalk | None = None
    blocklists: list[BlocklistResult] = field(default_factory=list)  # one per list asked, in config order
    blocklists_reused: bool = False  # the lists' last verdicts, not asked this time
