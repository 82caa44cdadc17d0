"""A domain's DNS health as TenantCore keeps it: the typed `StoredHealth` behind the `health`
column, the columns one check writes, when the next check is due, and the events a change
from one check to the next raises (the same whoever ran the check: the API or the worker)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator

from tenantcore.db import now
from tenantcore.dnshealth import PROBLEMS, HealthReport, severity_rank
from tenantcore.dnshealth.blocklists import CLEAN, LISTED, UNKNOWN, BlocklistResult

if TYPE_CHECKING:
    from tenantcore.domains.models import Domain

# The columns one check writes (the spec's four statuses, then ours), in one place: the
# API-triggered save and the worker's batched write-back both use it.
CHECK_COLUMNS = (
    "spf_status",
    "dkim_status",
    "dmarc_status",
    "mx_status",
    "grade",
    "fingerprint",
    "health",
    "blocklist_status",
    "last_checked",
    "check_count",
    "next_check_at",
    # The next action (`progress.refresh`): it follows the check, so it is written with it.
    "next_action",
    "action_count",
)


@dataclass(slots=True)
class StoredHealth:
    """What a check found beyond the four status columns: every finding (as the API shows
    it), each DKIM selector's state, whether DKIM could be enabled, the records seen, and the
    domain blocklists' verdicts.

    `blocklists` holds one entry per list asked (`BlocklistResult.to_dict()`) plus `last_known`:
    the list's last definite verdict (listed or clean), carried over checks whose answer was
    unknown, so that listed → unknown → listed raises `domain.blocklisted` once, not twice."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    selectors: dict[str, str] = field(default_factory=dict)
    ready_to_enable: bool = False
    observed: dict[str, Any] = field(default_factory=dict)
    blocklist_status: str | None = None  # listed, clean, unknown; None: no list asked
    blocklists: list[dict[str, Any]] = field(default_factory=list)
    blocklists_asked_at: str | None = None  # ISO time the lists were last asked

    @classmethod
    def from_report(cls, report: HealthReport, before: StoredHealth | None = None) -> StoredHealth:
        known = before.last_known() if before is not None else {}
        asked = (
            before.blocklists_asked_at
            if report.blocklists_reused and before is not None
            else (report.checked_at.isoformat() if report.blocklists else None)
        )
        blocklists = []
        for result in report.blocklists:
            entry = result.to_dict()
            entry["last_known"] = result.status if result.status != UNKNOWN else known.get(result.blocklist)
            blocklists.append(entry)
        return cls(
            findings=[f.to_dict() for f in report.findings],
            selectors=report.selectors,
            ready_to_enable=report.ready_to_enable,
            observed=report.observed,
            blocklist_status=report.blocklist_status,
            blocklists=blocklists,
            blocklists_asked_at=asked,
        )

    def reusable_blocklists(self, interval: float, at: datetime) -> tuple[BlocklistResult, ...] | None:
        """The lists' verdicts to reuse for a check at `at`: None when they are older than
        `interval` seconds, were never asked, or were unknown (an unknown is asked again)."""
        if not self.blocklists or self.blocklists_asked_at is None or self.blocklist_status == UNKNOWN:
            return None
        if (at - datetime.fromisoformat(self.blocklists_asked_at)).total_seconds() >= interval:
            return None
        return tuple(BlocklistResult.from_dict(e) for e in self.blocklists)

    def last_known(self) -> dict[str, str | None]:
        """Each list's last definite verdict (listed or clean; None: never known)."""
        return {e["blocklist"]: e.get("last_known") for e in self.blocklists if "blocklist" in e}

    def verdict(self) -> dict[str, Any]:
        """What the check concluded (the health endpoint's fields)."""
        return {
            "findings": self.findings,
            "selectors": self.selectors,
            "ready_to_enable": self.ready_to_enable,
            "blocklist_status": self.blocklist_status,
            "blocklists": self.blocklists,
        }

    def to_json(self) -> dict[str, Any]:
        return self.verdict() | {"observed": self.observed, "blocklists_asked_at": self.blocklists_asked_at}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StoredHealth:
        return cls(
            findings=list(raw.get("findings", [])),
            selectors=dict(raw.get("selectors", {})),
            ready_to_enable=bool(raw.get("ready_to_enable")),
            observed=dict(raw.get("observed", {})),
            blocklist_status=raw.get("blocklist_status"),
            blocklists=list(raw.get("blocklists", [])),
            blocklists_asked_at=raw.get("blocklists_asked_at"),
        )

    def has(self, code: str) -> bool:
        return any(f.get("code") == code for f in self.findings)


class StoredHealthType(TypeDecorator[StoredHealth]):
    """The `health` JSON column, read and written as a `StoredHealth`."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: StoredHealth | None, dialect: object) -> dict[str, Any] | None:
        return value.to_json() if value is not None else None

    def process_result_value(self, value: dict[str, Any] | None, dialect: object) -> StoredHealth | None:
        return StoredHealth.from_json(value) if value is not None else None


def next_check(interval: float, base: datetime | None = None) -> datetime:
    """Next check in one interval, ±10%: checks of domains added together drift apart, so the
    load spreads evenly over the interval instead of arriving in waves."""
    return (base or now()) + timedelta(seconds=interval * random.uniform(0.9, 1.1))


def first_check(interval: float) -> datetime:
    """A new domain's first scheduled check, anywhere within one interval (it was just checked)."""
    return now() + timedelta(seconds=interval * random.uniform(0.05, 1.0))


def record(domain: Domain, report: HealthReport, interval: float) -> list[tuple[str, str, dict[str, Any]]]:
    """Keep the report on the domain and schedule its next check; returns (type, message, data)
    of the events the change from the previous check raises."""
    before = domain.health
    raised = changes(domain.grade, domain.fingerprint, report, before.last_known() if before else None)
    domain.spf_status, domain.dkim_status = report.spf_status, report.dkim_status
    domain.dmarc_status, domain.mx_status = report.dmarc_status, report.mx_status
    domain.grade, domain.fingerprint = report.grade.value, report.fingerprint
    domain.last_checked = report.checked_at.replace(microsecond=0)
    domain.health = StoredHealth.from_report(report, before)
    domain.blocklist_status = domain.health.blocklist_status
    domain.check_count = (domain.check_count or 0) + 1
    domain.next_check_at = next_check(interval, report.checked_at)
    return raised


def changes(
    before_grade: str | None,
    before_fingerprint: str | None,
    report: HealthReport,
    before_blocklists: dict[str, str | None] | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, message, data) for each event this check raises. The first check of a domain
    has nothing to compare with and raises no grade or DNS event; an unknown answer never does.

    Blocklists (`before_blocklists`: each list's last definite verdict, `StoredHealth.last_known`):
    `domain.blocklisted` when a list lists the domain and did not before, the first check
    included (a domain added while listed is news); `domain.delisted` when a list that listed
    it answers clean. An unknown answer raises neither, and a list taken out of the settings
    raises nothing (it was not asked, not delisted)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    known = before_blocklists or {}
    for result in report.blocklists:
        was = known.get(result.blocklist)
        data = {"blocklist": result.blocklist, "codes": list(result.codes), "reasons": list(result.reasons)}
        if result.status == LISTED and was != LISTED:
            reasons = "; ".join(result.reasons)
            message = f"{report.domain} is listed on {result.blocklist}: {reasons} ({', '.join(result.codes)})."
            out.append(("domain.blocklisted", message, data | {"listed_name": result.listed_name}))
        elif result.status == CLEAN and was == LISTED:
            out.append(("domain.delisted", f"{report.domain} is no longer listed on {result.blocklist}.", data))
    after = report.fingerprint
    if before_fingerprint and after and after != before_fingerprint:
        out.append(
            (
                "domain.dns_changed",
                f"DNS records of {report.domain} changed.",
                {"before": before_fingerprint, "after": after, "observed": report.observed},
            )
        )
    # ok and info are both healthy; unknown is not a grade we compare (DNS did not answer).
    old, new = severity_rank(before_grade, info_is_ok=True), severity_rank(report.grade, info_is_ok=True)
    if old is not None and new is not None and new != old:
        problems = [f.code for f in report.findings if f.severity in PROBLEMS]
        data = {"before": before_grade, "after": report.grade.value, "problems": problems}
        if new > old:
            message = f"{report.domain} went from {before_grade} to {report.grade.value}: {', '.join(problems)}."
            out.append(("domain.degraded", message, data))
        else:
            # Not "back to": the first time a new domain's records are all right is a recovery too.
            out.append(("domain.recovered", f"{report.domain} is {report.grade.value} now (was {before_grade}).", data))
    return out
