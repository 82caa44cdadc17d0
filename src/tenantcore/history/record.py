"""The rules of health history, pure (no SQL): what counts as a transition, how a transition
updates its day's rollup, how days without a row are filled, and whether stored health says
a domain is on a blocklist.

Classes: ok and info are *healthy*, warning and error are *problems*, unknown (DNS did not
answer) is neither. The first check of a domain is not a transition (there is nothing to
come from); its grade is the history's start."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from tenantcore.dnshealth import HEALTHY, PROBLEMS, HealthReport

KEEP_DAYS: Final = 400  # rollups (per domain and fleet) and transitions older than this go
KEEP_TRANSITIONS: Final = 200  # per domain, newest kept (a flapping domain still has its days)
MAX_DAYS: Final = 400  # the longest window the API and the app show

# Worst first wins: unknown outranks healthy (we could not call it healthy) but never a problem.
WORST_ORDER: Final[Mapping[str, int]] = {"ok": 0, "info": 1, "unknown": 2, "warning": 3, "error": 4}
CLASSES: Final = ("healthy", "problem", "unknown")


def grade_class(grade: str | None) -> str | None:
    """healthy, problem, unknown, or None (never checked)."""
    if grade is None:
        return None
    if grade in HEALTHY:
        return "healthy"
    if grade in PROBLEMS:
        return "problem"
    return "unknown"


def worst(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if WORST_ORDER.get(a, 2) >= WORST_ORDER.get(b, 2) else b


def _troubles(findings: Iterable[Mapping[str, Any]]) -> set[str]:
    """Codes of the findings that keep a domain from healthy (warnings, errors, unknowns)."""
    return {str(f.get("code")) for f in findings if f.get("severity") not in HEALTHY}


@dataclass(frozen=True, slots=True)
class Moved:
    """A grade transition, before it is tied to a row."""

    at: datetime
    from_grade: str
    to_grade: str
    broke: list[str]
    fixed: list[str]


def transition(
    before_grade: str | None, before_findings: Iterable[Mapping[str, Any]], report: HealthReport
) -> Moved | None:
    """The transition this check makes, or None (same grade, or the first check)."""
    after = report.grade.value
    if before_grade is None or before_grade == after:
        return None
    old = _troubles(before_findings)
    new = _troubles(f.to_dict() for f in report.findings if f.severity not in HEALTHY)
    return Moved(report.checked_at, before_grade, after, sorted(new - old), sorted(old - new))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(slots=True)
class DayTotals:
    """A day's rollup as the database keeps it (see `DomainHealthDay`)."""

    start_grade: str
    worst_grade: str
    last_grade: str
    last_at: datetime
    healthy_seconds: int = 0
    problem_seconds: int = 0
    unknown_seconds: int = 0
    transitions: int = 0

    @classmethod
    def opened(cls, move: Moved, since: datetime | None = None) -> DayTotals:
        """The day's first transition: the from-grade held since midnight (or since the domain
        was added, `since`, when that was later)."""
        begin = day_start(move.at.date())
        if since is not None:
            begin = min(move.at, max(begin, since))
        return cls(move.from_grade, move.from_grade, move.from_grade, begin)

    def add(self, move: Moved) -> None:
        """Close the open segment at the transition and open the next one."""
        seconds = max(0, int((move.at - self.last_at).total_seconds()))
        bucket = f"{grade_class(self.last_grade)}_seconds"
        setattr(self, bucket, getattr(self, bucket) + seconds)
        self.last_grade, self.last_at = move.to_grade, max(self.last_at, move.at)
        self.worst_grade = worst(self.worst_grade, move.to_grade) or move.to_grade
        self.transitions += 1


@dataclass(slots=True)
class Day:
    """One day as shown: seconds in each class (within what was observed), the worst grade,
    and how many transitions it had; `grade` None: no data (not yet added or never checked)."""

    day: date
    worst_grade: str | None
    healthy_seconds: int = 0
    problem_seconds: int = 0
    unknown_seconds: int = 0
    transitions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def observed(self) -> int:
        return self.healthy_seconds + self.problem_seconds + self.unknown_seconds

    def share(self, cls: str) -> float:
        return getattr(self, f"{cls}_seconds") / self.observed if self.observed else 0.0


def daily(
    start: date,
    end: datetime,
    rows: Mapping[date, DayTotals],
    carried: str | None,
    since: datetime | None = None,
) -> list[Day]:
    """Every day from `start` to `end`'s day. `carried`: the grade at `start` 00:00 (from the
    last row before the window, or the domain's grade when it has none); `since`: when the
    domain was added (nothing is counted before)."""
    out: list[Day] = []
    day = start
    while day <= end.date():
        begin, finish = day_start(day), min(end, day_start(day) + timedelta(days=1))
        if since is not None:
            begin = max(begin, since)
        row = rows.get(day)
        if row is not None:
            shown = Day(day, row.worst_grade, row.healthy_seconds, row.problem_seconds, row.unknown_seconds)
            shown.transitions = row.transitions
            open_for = max(0, int((finish - max(row.last_at, begin)).total_seconds()))
            cls = grade_class(row.last_grade)
            if cls is not None:
                setattr(shown, f"{cls}_seconds", getattr(shown, f"{cls}_seconds") + open_for)
            carried = row.last_grade
        elif carried is not None and finish > begin:
            shown = Day(day, carried)
            cls = grade_class(carried)
            setattr(shown, f"{cls}_seconds", int((finish - begin).total_seconds()))
        else:
            shown = Day(day, None)
        out.append(shown)
        day += timedelta(days=1)
    return out


def blocklisted(raw: Any) -> bool:
    """Whether stored health JSON says the domain is listed on some blocklist: its
    `blocklist_status` (`StoredHealth`), or, while the lists are not answering (`unknown`), the
    last definite verdict a list gave (`last_known`)."""
    if not isinstance(raw, Mapping):
        return False
    if raw.get("blocklist_status") == "listed":
        return True
    entries = raw.get("blocklists")
    return isinstance(entries, list) and any(
        isinstance(e, Mapping) and e.get("last_known") == "listed" for e in entries
    )
