"""What a check observed for one domain: the DNS answers `check.py` gathers and `evaluate` judges.

Kept apart from the rules so that a test (or any caller with answers from elsewhere) can build
`Observations` from `Answer` objects and judge them without DNS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenantcore.dnshealth.blocklists import BlocklistResult
from tenantcore.dnshealth.lookup import Answer


@dataclass(slots=True)
class SpfWalk:
    """What following the SPF record's includes and redirect found."""

    lookups: int = 0
    void_lookups: int = 0
    unknown: list[str] = field(default_factory=list)  # names whose lookup failed (timeout...)
    broken: list[str] = field(default_factory=list)  # names with no (or several) SPF records
    loop: bool = False


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
    spf_walk: SpfWalk | None = None
    blocklists: list[BlocklistResult] = field(default_factory=list)  # one per list asked, in config order
    blocklists_reused: bool = False  # the lists' last verdicts, not asked this time
