"""Where a domain is on its way to sending, and the one thing to do next.

Two pure derivations over what TenantCore already keeps:
- `record_statuses`: each record Microsoft (and our DMARC advice) wants, against what the last
  DNS check saw (`StoredHealth.observed`): published, missing, different (with what is there),
  unknown (DNS did not answer) or not checked yet.
- `next_action`: from the lifecycle state, those statuses and the grade, the next step, who
  takes it (the operator, or the reconciler by itself) and the app action that does it.

The list pages read the stored result (`Domain.next_action`, `Domain.records_to_publish`,
refreshed by `refresh` on every write of the row) so that thousands of domains group, filter and
sort in SQL. Only "awaiting DNS" is decided at read time: it is "publish records" for a domain
younger than the grace period, and time alone moves it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import ColumnElement, and_, case

from tenantcore.dnshealth import build_expected_records
from tenantcore.dnshealth.findings import PROBLEMS
from tenantcore.dnshealth.names import registrable_zone, relative_to
from tenantcore.dnshealth.records import DnsRecord, ExpectedRecords, Purpose
from tenantcore.dnshealth.spf import is_spf, parse_spf

if TYPE_CHECKING:
    from tenantcore.domains.models import Domain


class RecordState(StrEnum):
    PUBLISHED = "published"
    MISSING = "missing"
    DIFFERENT = "different"
    UNKNOWN = "unknown"  # the last check's lookup got no definite answer
    UNCHECKED = "unchecked"  # issued after the last check (DKIM keys after verification)
    INHERITED = "inherited"  # DMARC: none here, the organizational domain's enforcing record applies


# What the app shows for each state: a symbol read with its word, never a colour alone.
RECORD_MARKS: Final = {
    RecordState.PUBLISHED: ("✓", "published"),
    RecordState.MISSING: ("✗", "missing"),
    RecordState.DIFFERENT: ("≠", "different"),
    RecordState.UNKNOWN: ("?", "DNS did not answer"),
    RecordState.UNCHECKED: ("…", "not checked yet"),
    RecordState.INHERITED: ("✓", "inherited from the parent domain's DMARC"),
}


@dataclass(frozen=True, slots=True)
class RecordStatus:
    record: DnsRecord
    state: RecordState
    seen: tuple[str, ...] = ()  # what DNS serves there instead (different), or nothing

    @property
    def to_publish(self) -> bool:
        return self.state in (RecordState.MISSING, RecordState.DIFFERENT, RecordState.UNCHECKED)

    # Pages only (the worker's refresh never asks): the public suffix lookup is not free.
    @property
    def zone(self) -> str:
        return registrable_zone(self.record.name)

    @property
    def host(self) -> str:
        """Relative to the zone the operator edits, as the records table and exports write it."""
        return relative_to(self.record.name, self.zone)


def _values(observed: dict[str, Any], key: str) -> tuple[str, ...] | None:
    """The observed values at `key`: a tuple, or None when DNS gave no definite answer
    (the stored value is then the outcome's name) or the key was never observed."""
    value = observed.get(key)
    if isinstance(value, list):
        return tuple(value)
    return None


def _state_of(record: DnsRecord, observed: dict[str, Any] | None) -> tuple[RecordState, tuple[str, ...]]:
    if not observed:
        return RecordState.UNCHECKED, ()
    purpose = record.purpose
    if purpose in (Purpose.VERIFICATION, Purpose.SPF):
        key = "apex_txt"
    elif purpose == Purpose.MX:
        key = "mx"
    elif purpose == Purpose.DMARC:
        key = "dmarc"
    elif purpose == Purpose.DKIM:
        key = f"dkim_{record.selector}"
    elif purpose == Purpose.AUTODISCOVER:
        key = "autodiscover"
    else:
        return RecordState.UNCHECKED, ()
    if key not in observed:
        return RecordState.UNCHECKED, ()
    values = _values(observed, key)
    if values is None:
        return RecordState.UNKNOWN, ()
    if purpose == Purpose.VERIFICATION:
        if record.value in values:
            return RecordState.PUBLISHED, ()
        return RecordState.MISSING, ()
    if purpose == Purpose.SPF:
        spf = [v for v in values if is_spf(v)]
        if not spf:
            return RecordState.MISSING, ()
        wanted = {t.split(":", 1)[1].lower() for t in record.value.split() if t.lower().startswith("include:")}
        parsed = parse_spf(spf[0])
        # A merged record (the operator's terms kept) counts; so does one that hands over with
        # redirect=, which the check judges as a whole (no missing-include finding there).
        if len(spf) == 1 and (spf[0] == record.value or wanted <= set(parsed.includes) or parsed.redirect):
            return RecordState.PUBLISHED, ()
        return RecordState.DIFFERENT, tuple(spf)
    if purpose == Purpose.MX:
        hosts = tuple(v.split()[-1].rstrip(".").lower() for v in values)
        if record.value.lower() in hosts:
            return RecordState.PUBLISHED, ()
        return (RecordState.DIFFERENT, tuple(values)) if values else (RecordState.MISSING, ())
    if purpose == Purpose.DMARC:
        dmarc = [v for v in values if v.replace(" ", "").lower().startswith("v=dmarc1")]
        if len(dmarc) == 1:
            return RecordState.PUBLISHED, ()  # the operator's own policy is theirs to choose
        return (RecordState.DIFFERENT, tuple(values)) if values else (RecordState.MISSING, ())
    # CNAMEs: DKIM selectors and autodiscover
    targets = tuple(v.rstrip(".").lower() for v in values)
    if record.value.lower() in targets:
        return RecordState.PUBLISHED, ()
    return (RecordState.DIFFERENT, targets) if targets else (RecordState.MISSING, ())


def record_statuses(
    expected: ExpectedRecords, observed: dict[str, Any] | None, dmarc_inherited: bool = False
) -> list[RecordStatus]:
    """`dmarc_inherited`: the last check found no DMARC record here but an enforcing one on the
    organizational domain, which receivers apply (the `dmarc_inherited` finding, not a warning)."""
    out = []
    for record in expected.records:
        state, seen = _state_of(record, observed)
        if dmarc_inherited and record.purpose == Purpose.DMARC and state == RecordState.MISSING:
            state = RecordState.INHERITED
        out.append(RecordStatus(record, state, seen))
    return out


# --- the next action -----------------------------------------------------------------------


class Action(StrEnum):
    CHECK_PENDING = "check_pending"
    AWAITING_DNS = "awaiting_dns"
    PUBLISH_RECORDS = "publish_records"
    PUBLISH_DKIM = "publish_dkim"
    WAITING_MICROSOFT = "waiting_microsoft"
    ENABLE_DKIM = "enable_dkim"
    FIX_DNS = "fix_dns"
    DELIST = "delist"
    RECHECK = "recheck"
    HEALTHY = "healthy"


@dataclass(frozen=True, slots=True)
class ActionInfo:
    title: str  # with {n} for the count where it has one, {s} for its plural
    automatic: bool  # the reconciler takes this step by itself
    button: str | None  # the app's action for the primary button: check, publish, verify, enable-dkim
    rank: int  # order on the problems page: what the operator must do first
    detail: str  # what it means and who does it, in the operator's words ({n}, {minutes}, {grace})


# One entry per action; `rank` orders the problems page: a blocklisted domain is burning now, a
# verified one waiting for its DKIM CNAMEs is one step from sending.
ACTIONS: Final[dict[Action, ActionInfo]] = {
    Action.PUBLISH_RECORDS: ActionInfo(
        "Publish {n} record{s}",
        False,
        "publish",
        3,
        "Publish the records marked ✗ or ≠ at the domain's DNS provider. Once Microsoft can see the TXT "
        "record, TenantCore verifies the domain by itself (it checks DNS every {minutes} min).",
    ),
    Action.PUBLISH_DKIM: ActionInfo(
        "Publish {n} DKIM CNAME{s}",
        False,
        "publish",
        1,
        "The domain is verified, and Microsoft issued its DKIM keys: publish the DKIM CNAMEs marked ✗ or ≠. "
        "TenantCore turns DKIM signing on by itself once they are visible.",
    ),
    Action.DELIST: ActionInfo(
        "Blocklisted: request delisting",
        False,
        "check",
        0,
        "A domain blocklist lists this domain: the blocklist finding below names the list and where to ask "
        "for removal. Stop sending from it until it is delisted.",
    ),
    Action.FIX_DNS: ActionInfo(
        "Fix {n} DNS problem{s}",
        False,
        "check",
        2,
        "The domain is verified and signing, but the last check found problems: each finding below says "
        "what to change. Re-check once you have changed the records.",
    ),
    Action.ENABLE_DKIM: ActionInfo(
        "Enable DKIM",
        True,
        "enable-dkim",
        4,
        "Both DKIM CNAMEs are live but signing is still off. TenantCore enables DKIM by itself at its next "
        "check (within {minutes} min); enable it now to skip the wait.",
    ),
    Action.RECHECK: ActionInfo(
        "DNS did not answer: re-check",
        True,
        "check",
        5,
        "The domain's nameservers did not answer the last check, so nothing is reported missing. "
        "TenantCore retries by itself; if it persists, check the domain's nameservers and expiry.",
    ),
    Action.AWAITING_DNS: ActionInfo(
        "Awaiting DNS ({n} record{s})",
        False,
        "publish",
        6,
        "Just added: publish the records marked ✗ below. New domains are not counted as problems for their "
        "first {grace}; TenantCore verifies the domain by itself once the TXT record is visible.",
    ),
    Action.WAITING_MICROSOFT: ActionInfo(
        "Waiting for Microsoft",
        True,
        "verify",
        7,
        "Every record is published. TenantCore asks Microsoft to verify the domain and issue its DKIM keys "
        "by itself; nothing to do. Verify now to skip the wait.",
    ),
    Action.CHECK_PENDING: ActionInfo(
        "First DNS check", True, "check", 8, "TenantCore is running the domain's first DNS check."
    ),
    Action.HEALTHY: ActionInfo(
        "Healthy",
        True,
        None,
        9,
        "Published, verified and DKIM-signing. TenantCore keeps checking it every {minutes} min and tells "
        "you when something changes.",
    ),
}


def _info(action: str) -> ActionInfo | None:
    return ACTIONS.get(Action(action)) if action in Action._value2member_map_ else None


def title(action: str, count: int) -> str:
    info = _info(action)
    return info.title.format(n=count, s="" if count == 1 else "s") if info else action


# Stored actions that wait on the operator (awaiting DNS is stored as publish_records).
OPERATOR_ACTIONS: Final = tuple(a.value for a, info in ACTIONS.items() if not info.automatic)


def group_title(action: str) -> str:
    """The action without its count, for a group heading: "Publish records"."""
    info = _info(action)
    return info.title.replace(" ({n} record{s})", "").replace("{n} ", "").format(s="s") if info else action


@dataclass(frozen=True, slots=True)
class NextAction:
    action: Action
    count: int  # records to publish, or problems to fix

    @property
    def title(self) -> str:
        return title(self.action, self.count)

    @property
    def info(self) -> ActionInfo:
        return ACTIONS[self.action]

    def detail(self, interval: float, grace: float) -> str:
        hours = grace / 3600
        span = f"{hours:g} hour{'' if hours == 1 else 's'}" if hours >= 1 else f"{max(1, round(grace / 60))} min"
        return self.info.detail.format(n=self.count, minutes=max(1, round(interval / 60)), grace=span)


def next_action(
    *,
    is_verified: bool,
    dkim_enabled: bool,
    grade: str | None,
    blocklist_status: str | None,
    statuses: Sequence[RecordStatus],
    problems: int,
    ready_to_enable: bool = False,
) -> NextAction:
    """The one next step. `problems`: warning and error findings of the last check."""
    if grade is None:
        return NextAction(Action.CHECK_PENDING, 0)
    dkim = [s for s in statuses if s.record.purpose == Purpose.DKIM]
    others = [s for s in statuses if s.record.purpose != Purpose.DKIM]
    others_missing = sum(s.to_publish for s in others)
    dkim_missing = sum(s.to_publish for s in dkim)
    unknown = any(s.state == RecordState.UNKNOWN for s in statuses)
    if not is_verified:
        if others_missing:
            return NextAction(Action.PUBLISH_RECORDS, others_missing)
        if unknown:
            return NextAction(Action.RECHECK, 0)
        return NextAction(Action.WAITING_MICROSOFT, 0)
    if not dkim_enabled:
        if dkim_missing and not others_missing:
            return NextAction(Action.PUBLISH_DKIM, dkim_missing)
        if others_missing or dkim_missing:
            return NextAction(Action.PUBLISH_RECORDS, others_missing + dkim_missing)
        if not dkim:  # Microsoft has not issued the keys yet; the reconciler asks for them
            return NextAction(Action.WAITING_MICROSOFT, 0)
        if unknown and not ready_to_enable:
            return NextAction(Action.RECHECK, 0)
        return NextAction(Action.ENABLE_DKIM, 0)
    if others_missing or dkim_missing:
        return NextAction(Action.PUBLISH_RECORDS, others_missing + dkim_missing)
    if blocklist_status == "listed":
        return NextAction(Action.DELIST, 0)
    if grade in PROBLEMS:
        return NextAction(Action.FIX_DNS, problems)
    if grade == "unknown":
        return NextAction(Action.RECHECK, 0)
    return NextAction(Action.HEALTHY, 0)


def expected_of(domain: Domain) -> ExpectedRecords:
    """The records Microsoft issued for the domain, with our DMARC advice, as DNS should serve them.

    Kept on the instance while its inputs are the same objects: a check builds them, then the
    refresh that follows it asks again (a worker batch would otherwise build them twice)."""
    inputs = (domain.name, domain.verification_records, domain.service_records, domain.dkim_config)
    kept = domain.__dict__.get("_expected")
    if kept is not None and all(a is b for a, b in zip(kept[0], inputs, strict=True)):
        return kept[1]
    expected = build_expected_records(
        domain.name,
        verification=domain.verification_records or (),
        service=domain.service_records or (),
        dkim_config=domain.dkim_config,
    )
    domain.__dict__["_expected"] = (inputs, expected)
    return expected


def of_domain(domain: Domain, expected: ExpectedRecords | None = None) -> tuple[NextAction, list[RecordStatus]]:
    health = domain.health
    inherited = health is not None and any(
        f.get("code") == "dmarc_inherited" and f.get("severity") in ("ok", "info") for f in health.findings
    )
    statuses = record_statuses(
        expected or expected_of(domain), health.observed if health is not None else None, inherited
    )
    problems = sum(1 for f in health.findings if f.get("severity") in PROBLEMS) if health is not None else 0
    action = next_action(
        is_verified=domain.is_verified,
        dkim_enabled=domain.dkim_enabled,
        grade=domain.grade,
        blocklist_status=domain.blocklist_status,
        statuses=statuses,
        problems=problems,
        ready_to_enable=health.ready_to_enable if health is not None else False,
    )
    return action, statuses


def refresh(domain: Domain) -> None:
    """Keep the stored next action current: called on every write of the row."""
    action, _ = of_domain(domain)
    domain.next_action = action.action.value
    domain.action_count = action.count


# --- the domain page: the step tracker and DKIM in words -------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    done: bool
    current: bool = False


def steps(domain: Domain, statuses: Sequence[RecordStatus], action: NextAction) -> list[Step]:
    """Where the domain is on the way from added to healthy (the first step not done is current)."""
    dkim = [s for s in statuses if s.record.purpose == Purpose.DKIM]
    others_done = domain.is_verified or not any(s.to_publish for s in statuses if s.record.purpose != Purpose.DKIM)
    done = [
        ("Added to Microsoft 365", True),
        ("DNS records published", others_done),
        ("Verified by Microsoft", domain.is_verified),
        ("DKIM CNAMEs published", domain.dkim_enabled or (bool(dkim) and not any(s.to_publish for s in dkim))),
        ("DKIM signing on", domain.dkim_enabled),
        ("Healthy", action.action == Action.HEALTHY),
    ]
    current = next((i for i, (_, ok) in enumerate(done) if not ok), None)
    return [Step(label, ok, i == current) for i, (label, ok) in enumerate(done)]


def dkim_words(domain: Domain, statuses: Sequence[RecordStatus]) -> str:
    """DKIM as an operator reads it: "CNAMEs published" is not "signing"."""
    if domain.dkim_enabled:
        return "signing on"
    dkim = [s for s in statuses if s.record.purpose == Purpose.DKIM]
    if not dkim:
        return "keys not issued yet (after verification)" if not domain.is_verified else "keys being issued"
    if any(s.to_publish for s in dkim):
        return "CNAMEs to publish, signing off"
    return "CNAMEs published, signing off"


# --- read time: the grace period -------------------------------------------------------------


def shown(action: str | None, count: int, created_at: datetime | None, at: datetime, grace: float) -> NextAction:
    """The stored action as the operator sees it now: a young domain's missing records are
    "awaiting DNS", not yet a problem."""
    stored = Action(action) if action in Action._value2member_map_ else Action.CHECK_PENDING
    if stored == Action.PUBLISH_RECORDS and created_at is not None and at - created_at < timedelta(seconds=grace):
        return NextAction(Action.AWAITING_DNS, count)
    return NextAction(stored, count)


def shown_sql(next_action_col: Any, created_at_col: Any, at: datetime, grace: float) -> ColumnElement[str]:
    """`shown` as SQL, to group, filter and sort thousands of domains in the database."""
    cutoff = at - timedelta(seconds=grace)
    return case(
        (
            and_(next_action_col == Action.PUBLISH_RECORDS.value, created_at_col > cutoff),
            Action.AWAITING_DNS.value,
        ),
        else_=next_action_col,
    )
