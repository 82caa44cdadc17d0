"""Blocklists: whether the domain is listed on the domain blocklists the checker asked."""

from __future__ import annotations

from functools import lru_cache

from tenantcore.dnshealth import catalogue
from tenantcore.dnshealth.blocklists import LISTED, REMOVAL, UNKNOWN, BlocklistResult, overall
from tenantcore.dnshealth.findings import Finding
from tenantcore.dnshealth.observations import Observations


@lru_cache(maxsize=64)
def _clean(names: tuple[str, ...]) -> Finding:
    # The usual verdict, the same for every domain of a run: made once.
    return catalogue.BLOCKLIST_OK(blocklists=", ".join(names))


def _finding(result: BlocklistResult) -> Finding | None:
    if result.status == LISTED:
        return catalogue.BLOCKLISTED(
            name=result.listed_name,
            blocklist=result.blocklist,
            reasons="; ".join(result.reasons),
            codes=", ".join(result.codes),
            removal=REMOVAL[result.kind],
        )
    if result.status == UNKNOWN:
        kind = catalogue.BLOCKLIST_REFUSED if result.refused else catalogue.BLOCKLIST_UNKNOWN
        return kind(blocklist=result.blocklist, problem=result.problem)
    return None


def judge_blocklists(obs: Observations) -> tuple[str | None, list[Finding]]:
    """(blocklist_status, findings): listed, unknown or clean (None: no list was asked); one
    finding per list that lists the domain or could not say, or one ok finding for all."""
    results = obs.blocklists
    if not results:
        return None, []
    findings = [f for f in map(_finding, results) if f is not None]
    if not findings:
        findings.append(_clean(tuple(r.blocklist for r in results)))
    return overall(results), findings
