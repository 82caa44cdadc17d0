"""What a fresh check says changed: the events a check raises, judged the same way whether the
worker or an API call ran it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from tenantcore.db import now
from tenantcore.dnshealth import HealthReport

# ok and info are both healthy; unknown is not a grade we compare (DNS did not answer).
_RANK = {"ok": 0, "info": 0, "warning": 1, "error": 2}


def next_check(interval: float, base: datetime | None = None) -> datetime:
    """Next check in one interval, ±10%: checks of domains added together drift apart, so the
    load spreads evenly over the interval instead of arriving in waves."""
    return (base or now()) + timedelta(seconds=interval * random.uniform(0.9, 1.1))


def first_check(interval: float) -> datetime:
    """A new domain's first scheduled check, anywhere within one interval (it was just checked)."""
    return now() + timedelta(seconds=interval * random.uniform(0.05, 1.0))


def changes(
    before_grade: str | None, before_fingerprint: str | None, report: HealthReport
) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, message, data) for each event this check raises. The first check of a domain
    has nothing to compare with and raises none; an unknown answer never does."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    after = report.fingerprint
    if before_fingerprint and after and after != before_fingerprint:
        out.append(
            (
                "domain.dns_changed",
                f"DNS records of {report.domain} changed.",
                {"before": before_fingerprint, "after": after, "observed": report.observed},
            )
        )
    old, new = _RANK.get(before_grade or ""), _RANK.get(report.grade.value)
    if old is not None and new is not None and new != old:
        problems = [f.code for f in report.findings if f.severity.value in ("warning", "error")]
        if new > old:
            out.append(
                (
                    "domain.degraded",
                    f"{report.domain} went from {before_grade} to {report.grade.value}: {', '.join(problems)}.",
                    {"before": before_grade, "after": report.grade.value, "problems": problems},
                )
            )
        else:
            out.append(
                (
                    "domain.recovered",
                    f"{report.domain} is back to {report.grade.value} (was {before_grade}).",
                    {"before": before_grade, "after": report.grade.value, "problems": problems},
                )
            )
    return out
