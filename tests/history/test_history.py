"""Health history without HTTP, on SQLite and PostgreSQL: transitions and day rollups written
through the lifecycle's changes, the per-domain cap, pruning, and the pure rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from tenantcore.accounts.models import Account
from tenantcore.accounts.service import Caller
from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.dnshealth import Finding, HealthReport, Severity
from tenantcore.domains import lifecycle
from tenantcore.domains.models import Domain
from tenantcore.domains.states import DomainState
from tenantcore.events.models import Event
from tenantcore.history import record, repository
from tenantcore.history import service as history
from tenantcore.history.models import DomainHealthDay, HealthTransition
from tenantcore.runtime import Runtime
from tenantcore.tenants.models import Tenant

MS_TENANT = "0b5e5a1c-0d6e-4f6b-9a43-3f0cbb2e8f11"
YESTERDAY = (now() - timedelta(days=1)).date()


def at(hour: int, day: date = YESTERDAY) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)


def report(grade: Severity, *codes: str, when: datetime) -> HealthReport:
    findings = [Finding(code, grade, "spf", code) for code in codes]
    return HealthReport(
        domain="mail.acme-corp.com",
        checked_at=when,
        spf_status="missing",
        dkim_status="healthy",
        dmarc_status="missing",
        mx_status="missing",
        selectors={},
        ready_to_enable=False,
        findings=findings,
        grade=grade,
        fingerprint=None,
        observed={},
    )


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", sandbox=False)
    async with Runtime.opened(settings) as running:
        yield running


async def a_domain(runtime: Runtime) -> tuple[Caller, Domain]:
    account_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with runtime.transaction() as session:
        await session.execute(insert(Account).values(id=account_id, name="acme"))
        await session.execute(
            insert(Tenant).values(
                id=tenant_id,
                account_id=account_id,
                mode="live",
                ms_tenant_id=MS_TENANT,
                tenant_name="Acme",
                tenant_domain="acme.onmicrosoft.com",
            )
        )
        domain = Domain(
            tenant_id=tenant_id,
            account_id=account_id,
            mode="live",
            name="mail.acme-corp.com",
            state=DomainState.VERIFIED,
            created_at=now() - timedelta(days=3),
        )
        session.add(domain)
    return Caller(account_id, "live", "key"), domain


async def check(runtime: Runtime, domain: Domain, checked: HealthReport) -> Domain:
    return await lifecycle.commit(runtime, domain, lifecycle.checked(MS_TENANT, checked, 900))


async def test_grade_changes_write_transitions_and_the_days_rollup(runtime):
    caller, domain = await a_domain(runtime)
    domain = await check(runtime, domain, report(Severity.OK, when=at(0)))  # first check: nothing to come from
    domain = await check(runtime, domain, report(Severity.ERROR, "spf_missing", "dmarc_missing", when=at(1)))
    domain = await check(runtime, domain, report(Severity.ERROR, "spf_missing", "dmarc_missing", when=at(2)))
    domain = await check(runtime, domain, report(Severity.WARNING, "dmarc_missing", when=at(3)))
    domain = await check(runtime, domain, report(Severity.OK, when=at(4)))

    async with runtime.sessions() as session:
        moves = (await session.scalars(select(HealthTransition).order_by(HealthTransition.at))).all()
        day = await session.scalar(select(DomainHealthDay))
        events = (await session.scalars(select(Event.type).order_by(Event.id))).all()
    assert [(m.from_grade, m.to_grade, m.broke, m.fixed) for m in moves] == [
        ("ok", "error", ["dmarc_missing", "spf_missing"], []),
        ("error", "warning", [], ["spf_missing"]),
        ("warning", "ok", [], ["dmarc_missing"]),
    ]
    assert events == ["domain.degraded", "domain.recovered", "domain.recovered"]  # the same changes
    assert (day.day, day.start_grade, day.worst_grade, day.last_grade, day.transitions) == (
        YESTERDAY,
        "ok",
        "error",
        "ok",
        3,
    )
    assert (day.healthy_seconds, day.problem_seconds, day.unknown_seconds) == (3600, 3 * 3600, 0)

    past = await history.domain_history(runtime, caller, MS_TENANT, domain.name, 30)
    assert len(past.daily) == 30 and past.daily[-1].day == now().date()
    shown = {d.day: d for d in past.daily}
    assert shown[YESTERDAY].healthy_seconds == 21 * 3600 and shown[YESTERDAY].problem_seconds == 3 * 3600
    assert shown[YESTERDAY].worst_grade == "error"
    assert shown[YESTERDAY - timedelta(days=1)].worst_grade == "ok"  # carried back: ok before the first change
    assert shown[YESTERDAY - timedelta(days=5)].worst_grade is None  # not added yet
    assert [t.to_grade for t in past.transitions] == ["error", "warning", "ok"]

    other = Caller(str(uuid.uuid4()), "live", "key")  # another account reads nothing of it
    async with runtime.sessions() as session:
        assert await repository.transitions(session, other, domain.id, at(0) - timedelta(days=1)) == []


async def test_unknown_is_a_transition_but_raises_no_event(runtime):
    _, domain = await a_domain(runtime)
    domain = await check(runtime, domain, report(Severity.OK, when=at(0)))
    domain = await check(runtime, domain, report(Severity.UNKNOWN, "dns_timeout", when=at(6)))
    domain = await check(runtime, domain, report(Severity.OK, when=at(8)))
    async with runtime.sessions() as session:
        moves = (await session.scalars(select(HealthTransition).order_by(HealthTransition.at))).all()
        day = await session.scalar(select(DomainHealthDay))
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
    assert [(m.from_grade, m.to_grade, m.broke) for m in moves] == [
        ("ok", "unknown", ["dns_timeout"]),
        ("unknown", "ok", []),
    ]
    assert (day.healthy_seconds, day.unknown_seconds, day.worst_grade) == (6 * 3600, 2 * 3600, "unknown")


async def test_history_is_bounded(runtime):
    _, domain = await a_domain(runtime)
    grades = ["ok", "error"]
    start = at(1, now().date() - timedelta(days=2))  # 225 minutes from 01:00: all on one day, whatever the hour
    moves = [
        (domain, record.Moved(start + timedelta(minutes=i), grades[i % 2], grades[(i + 1) % 2], [], []))
        for i in range(record.KEEP_TRANSITIONS + 25)
    ]
    async with runtime.transaction() as session:
        await repository.record(session, moves)
    async with runtime.sessions() as session:
        kept = (await session.scalars(select(HealthTransition.at).order_by(HealthTransition.at))).all()
        day = await session.scalar(select(DomainHealthDay))
    assert len(kept) == record.KEEP_TRANSITIONS
    assert kept[0] == moves[25][1].at  # the newest are kept
    assert day.transitions == record.KEEP_TRANSITIONS + 25  # the day still counts them all

    old = now().date() - timedelta(days=record.KEEP_DAYS + 3)
    async with runtime.transaction() as session:
        await session.execute(update(DomainHealthDay).values(day=old))
        await session.execute(update(HealthTransition).values(at=at(5, old)))
    await history.upkeep(runtime, ("live", "test"))
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DomainHealthDay)) == 0
        assert await session.scalar(select(func.count()).select_from(HealthTransition)) == 0


def test_days_without_a_row_carry_the_grade_and_today_stops_now():
    today = date(2026, 11, 20)
    end = at(12, today)
    rows = {
        today - timedelta(days=1): record.DayTotals(
            "ok", "error", "error", at(18, today - timedelta(days=1)), 18 * 3600
        )
    }
    days = record.daily(today - timedelta(days=2), end, rows, "ok")
    assert [d.worst_grade for d in days] == ["ok", "error", "error"]
    assert days[1].healthy_seconds == 18 * 3600 and days[1].problem_seconds == 6 * 3600
    assert days[2].problem_seconds == 12 * 3600 and days[2].observed == 12 * 3600


@pytest.mark.parametrize(
    ("raw", "listed"),
    [
        ({}, False),
        ({"blocklist_status": None, "blocklists": []}, False),
        (
            {
                "blocklist_status": "clean",
                "blocklists": [{"blocklist": "dbl", "status": "clean", "last_known": "clean"}],
            },
            False,
        ),
        ({"blocklist_status": "listed", "blocklists": [{"blocklist": "dbl", "status": "listed"}]}, True),
        # the lists are not answering now: the last definite verdict still counts
        (
            {
                "blocklist_status": "unknown",
                "blocklists": [{"blocklist": "dbl", "status": "unknown", "last_known": "listed"}],
            },
            True,
        ),
        (
            {
                "blocklist_status": "unknown",
                "blocklists": [{"blocklist": "dbl", "status": "unknown", "last_known": None}],
            },
            False,
        ),
        (None, False),
    ],
)
def test_blocklist_state_is_read_from_the_stored_health(raw, listed):
    assert record.blocklisted(raw) is listed
