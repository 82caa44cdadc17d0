"""All SQL about health history. Reads on behalf of a caller are scoped to the caller's account
and mode here (a domain id alone never reads another account's history). Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, case, cast, delete, func, insert, not_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import JSON

from tenantcore.accounts.service import Caller
from tenantcore.db import now
from tenantcore.dnshealth import HEALTHY, PROBLEMS
from tenantcore.domains import progress
from tenantcore.domains.models import Domain
from tenantcore.domains.progress import Action
from tenantcore.domains.states import LISTED
from tenantcore.history.models import DomainHealthDay, FleetHealthDay, HealthTransition
from tenantcore.history.record import KEEP_TRANSITIONS, DayTotals, Moved, blocklisted, day_start

_TOTALS = (
    "start_grade",
    "worst_grade",
    "last_grade",
    "last_at",
    "healthy_seconds",
    "problem_seconds",
    "unknown_seconds",
    "transitions",
)


async def record(session: AsyncSession, moves: Sequence[tuple[Domain, Moved]]) -> None:
    """Keep transitions (in the transaction that wrote their checks, after the domain rows were
    written, so each domain's row lock orders its writers): the transitions, their days'
    rollups, and each domain's oldest transitions beyond `KEEP_TRANSITIONS`. A fixed number of
    statements whatever the count (a DNS outage turns a whole batch unknown at once)."""
    if not moves:
        return
    moves = sorted(moves, key=lambda pair: pair[1].at)
    connection = await session.connection()
    await connection.execute(
        insert(HealthTransition),
        [
            {
                "domain_id": d.id,
                "account_id": d.account_id,
                "mode": d.mode,
                "at": m.at,
                "from_grade": m.from_grade,
                "to_grade": m.to_grade,
                "broke": m.broke,
                "fixed": m.fixed,
            }
            for d, m in moves
        ],
    )
    ids, days = {d.id for d, _ in moves}, {m.at.date() for _, m in moves}
    found = await session.execute(
        select(DomainHealthDay.domain_id, DomainHealthDay.day, *(getattr(DomainHealthDay, n) for n in _TOTALS)).where(
            DomainHealthDay.domain_id.in_(ids), DomainHealthDay.day.in_(days)
        )
    )
    existing = {(r.domain_id, r.day): DayTotals(*r[2:]) for r in found.all()}
    fresh: dict[tuple[str, date], tuple[Domain, DayTotals]] = {}
    for domain, move in moves:
        key = (domain.id, move.at.date())
        if key in existing:
            existing[key].add(move)
            continue
        if key not in fresh:
            fresh[key] = (domain, DayTotals.opened(move, domain.created_at))
        fresh[key][1].add(move)
    if fresh:
        await connection.execute(
            insert(DomainHealthDay),
            [
                {"domain_id": d.id, "day": day, "account_id": d.account_id, "mode": d.mode}
                | {n: getattr(t, n) for n in _TOTALS}
                for (_, day), (d, t) in fresh.items()
            ],
        )
    if existing:
        stmt = (
            update(DomainHealthDay)
            .where(DomainHealthDay.domain_id == bindparam("_domain"), DomainHealthDay.day == bindparam("_day"))
            .values({n: bindparam(n) for n in _TOTALS})
        )
        await connection.execute(
            stmt,
            [{"_domain": i, "_day": day} | {n: getattr(t, n) for n in _TOTALS} for (i, day), t in existing.items()],
        )
    over = await session.execute(
        select(HealthTransition.domain_id)
        .where(HealthTransition.domain_id.in_(ids))
        .group_by(HealthTransition.domain_id)
        .having(func.count() > KEEP_TRANSITIONS)
    )
    for domain_id in over.scalars().all():  # rare: a domain that flapped more than the cap
        await _cap(session, domain_id)


async def _cap(session: AsyncSession, domain_id: str) -> None:
    """Drop the domain's transitions beyond the newest `KEEP_TRANSITIONS` (one indexed read
    of the boundary; usually nothing to delete)."""
    boundary = await session.scalar(
        select(HealthTransition.id)
        .where(HealthTransition.domain_id == domain_id)
        .order_by(HealthTransition.at.desc(), HealthTransition.id.desc())
        .offset(KEEP_TRANSITIONS - 1)
        .limit(1)
    )
    if boundary is not None:
        await session.execute(
            delete(HealthTransition).where(HealthTransition.domain_id == domain_id, HealthTransition.id < boundary)
        )


async def prune(session: AsyncSession, before: date) -> int:
    """Drop rollups of days before `before` and transitions older than it; returns the rows gone."""
    gone = 0
    for stmt in (
        delete(DomainHealthDay).where(DomainHealthDay.day < before),
        delete(FleetHealthDay).where(FleetHealthDay.day < before),
        delete(HealthTransition).where(HealthTransition.at < day_start(before)),
    ):
        gone += int((await session.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]
    return gone


# --- reads, scoped to the caller ------------------------------------------------------------


async def transitions(session: AsyncSession, caller: Caller, domain_id: str, since: datetime) -> list[HealthTransition]:
    query = (
        select(HealthTransition)
        .where(
            HealthTransition.account_id == caller.account_id,
            HealthTransition.mode == caller.mode,
            HealthTransition.domain_id == domain_id,
            HealthTransition.at >= since,
        )
        .order_by(HealthTransition.at, HealthTransition.id)
    )
    return list((await session.scalars(query)).all())


def _days(caller: Caller, domain_id: str) -> Any:
    return select(DomainHealthDay).where(
        DomainHealthDay.account_id == caller.account_id,
        DomainHealthDay.mode == caller.mode,
        DomainHealthDay.domain_id == domain_id,
    )


async def days(session: AsyncSession, caller: Caller, domain_id: str, since: date) -> list[DomainHealthDay]:
    query = _days(caller, domain_id).where(DomainHealthDay.day >= since).order_by(DomainHealthDay.day)
    return list((await session.scalars(query)).all())


async def day_before(session: AsyncSession, caller: Caller, domain_id: str, day: date) -> DomainHealthDay | None:
    """The domain's last rollup before `day` (its last grade carries into the window)."""
    query = _days(caller, domain_id).where(DomainHealthDay.day < day).order_by(DomainHealthDay.day.desc()).limit(1)
    return await session.scalar(query)


async def fleet_days(session: AsyncSession, caller: Caller, since: date) -> list[FleetHealthDay]:
    query = (
        select(FleetHealthDay)
        .where(
            FleetHealthDay.account_id == caller.account_id,
            FleetHealthDay.mode == caller.mode,
            FleetHealthDay.day >= since,
        )
        .order_by(FleetHealthDay.day)
    )
    return list((await session.scalars(query)).all())


# --- the fleet snapshot ---------------------------------------------------------------------


async def fleet_counts(
    session: AsyncSession, modes: Sequence[str], at: datetime, grace: float
) -> dict[tuple[str, str], dict[str, int]]:
    """Listed domains per (account, mode) by health, and how many are blocklisted, in two
    aggregate reads (the second only over rows whose stored health mentions blocklists).
    A new domain awaiting DNS (`progress.shown`, within `grace` seconds) is not a problem
    here either, as on the fleet page's cards: it counts with the unknown."""
    awaiting = progress.shown_sql(Domain.next_action, Domain.created_at, at, grace) == Action.AWAITING_DNS.value
    query = (
        select(
            Domain.account_id,
            Domain.mode,
            func.count().label("domains"),
            func.count(case((Domain.grade.in_(HEALTHY), 1))).label("healthy"),
            func.count(case((and_(Domain.grade.in_(PROBLEMS), not_(awaiting)), 1))).label("problems"),
        )
        .where(Domain.state.in_(LISTED), Domain.mode.in_(modes))
        .group_by(Domain.account_id, Domain.mode)
    )
    out: dict[tuple[str, str], dict[str, int]] = {}
    for row in (await session.execute(query)).all():
        counts = {"domains": row.domains, "healthy": row.healthy, "problems": row.problems, "blocklisted": 0}
        counts["unknown"] = row.domains - row.healthy - row.problems  # unknown, not checked yet, awaiting DNS
        out[(row.account_id, row.mode)] = counts
    raw = type_coerce(Domain.health, JSON)  # the stored JSON as is: fields StoredHealth does not know yet too
    listed = select(Domain.account_id, Domain.mode, raw).where(
        Domain.state.in_(LISTED), Domain.mode.in_(modes), cast(Domain.health, String).like('%"blocklists"%')
    )
    for account_id, mode, health in (await session.execute(listed)).all():
        if blocklisted(health) and (account_id, mode) in out:
            out[(account_id, mode)]["blocklisted"] += 1
    return out


async def store_fleet_day(session: AsyncSession, day: date, counts: dict[tuple[str, str], dict[str, int]]) -> None:
    """Upsert the day's row of each (account, mode)."""
    if not counts:
        return
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    at = now()
    rows = [{"account_id": a, "mode": m, "day": day, "updated_at": at, **c} for (a, m), c in counts.items()]
    stmt = dialect.insert(FleetHealthDay).values(rows)
    names = ("domains", "healthy", "problems", "unknown", "blocklisted")
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "mode", "day"],
            set_={name: getattr(stmt.excluded, name) for name in (*names, "updated_at")},
        )
    )
