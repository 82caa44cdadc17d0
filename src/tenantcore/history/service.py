"""Health history for callers (a domain's, the fleet's) and its upkeep by the worker (the
fleet snapshot and pruning). Transitions themselves are written where checks are recorded
(`lifecycle.keep`)."""

from __future__ import annotations

from datetime import timedelta

from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.domains import service as domains
from tenantcore.errors import TenantCoreError
from tenantcore.history import repository
from tenantcore.history.record import KEEP_DAYS, MAX_DAYS, DayTotals, daily
from tenantcore.history.schemas import DayOut, DomainHistory, FleetDayOut, FleetHistory, TransitionOut
from tenantcore.runtime import Runtime


def window(days: int | str) -> int:
    """The window in days, from an int or a query string's digits; 400 `invalid_days` else."""
    if isinstance(days, str):
        days = int(days) if days.isascii() and days.isdigit() and len(days) <= 4 else 0
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise TenantCoreError(400, "invalid_days", f"days must be a whole number from 1 to {MAX_DAYS}.")
    return days


async def domain_history(runtime: Runtime, caller: Caller, ms_tenant_id: str, name: str, days: int) -> DomainHistory:
    """The domain's transitions and one entry per day over the last `days` days (today last)."""
    days = window(days)
    _, domain = await domains.load(runtime, caller, ms_tenant_id, name)
    at = now()
    start = at.date() - timedelta(days=days - 1)
    async with runtime.sessions() as session:
        moves = await repository.transitions(session, caller, domain.id, at - timedelta(days=days))
        rows = await repository.days(session, caller, domain.id, start)
        before = await repository.day_before(session, caller, domain.id, start)
    totals = {
        r.day: DayTotals(
            r.start_grade,
            r.worst_grade,
            r.last_grade,
            r.last_at,
            r.healthy_seconds,
            r.problem_seconds,
            r.unknown_seconds,
            r.transitions,
        )
        for r in rows
    }
    # The grade at the window's start: the last one before it, or (no row before) the grade
    # the first row of the window started with, or (none at all) the grade now.
    carried = before.last_grade if before is not None else rows[0].start_grade if rows else domain.grade
    series = daily(start, at, totals, carried, since=domain.created_at)
    observed = sum(d.observed for d in series)
    return DomainHistory(
        domain_name=domain.name,
        grade=domain.grade,
        days=days,
        since=start,
        transitions=[TransitionOut.model_validate(m, from_attributes=True) for m in moves if m.at.date() >= start],
        daily=[DayOut.model_validate(d, from_attributes=True) for d in series],
        healthy_share=round(sum(d.healthy_seconds for d in series) / observed, 4) if observed else 0.0,
    )


async def fleet_history(runtime: Runtime, caller: Caller, days: int) -> FleetHistory:
    """The caller's fleet by health, one snapshot per day over the last `days` days."""
    days = window(days)
    start = now().date() - timedelta(days=days - 1)
    async with runtime.sessions() as session:
        rows = await repository.fleet_days(session, caller, start)
    return FleetHistory(
        days=days,
        since=start,
        daily=[FleetDayOut.model_validate(r, from_attributes=True) for r in rows],
    )


async def upkeep(runtime: Runtime, modes: tuple[str, ...]) -> None:
    """The worker's periodic history work: today's fleet snapshot per account and mode, and
    dropping what is older than `KEEP_DAYS`."""
    at = now()
    async with runtime.transaction() as session:
        counts = await repository.fleet_counts(session, modes, at, runtime.settings.dns_grace)
        await repository.store_fleet_day(session, at.date(), counts)
    async with runtime.transaction() as session:
        await repository.prune(session, at.date() - timedelta(days=KEEP_DAYS))
