"""The work list: every domain of the caller's fleet that is not healthy yet, by next action.

The problems page reads it: grouped by next action with counts, filtered by tenant, action and
grade, searched by domain or tenant name, sorted and paginated, all in SQL over the stored
`Domain.next_action` (the grace period applied at read time by `progress.shown_sql`), so a
fleet of thousands answers in milliseconds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenantcore.accounts.service import Caller
from tenantcore.dnshealth import PROBLEMS
from tenantcore.domains.models import Domain
from tenantcore.domains.progress import ACTIONS, Action, shown_sql
from tenantcore.domains.states import LISTED
from tenantcore.tenants.models import Tenant

PER_PAGE: Final = 50
GRADES: Final = ("problem", "error", "warning", "unknown", "info", "ok", "none")  # problem: warning or error
_GRADE_ORDER = case(
    {"error": 0, "warning": 1, "unknown": 2, "info": 3, "ok": 4}, value=Domain.grade, else_=5
)  # fmt: skip
SORTS: Final = ("action", "name", "tenant", "grade", "checked")


@dataclass(frozen=True)
class WorklistQuery:
    """What the page asked for; every field is checked by `clean` (a bad value is ignored, not an error)."""

    q: str = ""
    tenant: str = ""  # Microsoft tenant id
    action: str = ""
    grade: str = ""
    sort: str = "action"
    desc: bool = False
    page: int = 1

    @classmethod
    def clean(cls, raw: Mapping[str, str]) -> WorklistQuery:
        """From the page's query string; a value that is not one of the choices is the default."""
        page = raw.get("page", "")
        action, grade, sort = raw.get("action", ""), raw.get("grade", ""), raw.get("sort", "")
        return cls(
            q=raw.get("q", "").strip()[:100],
            tenant=raw.get("tenant", "").strip().lower()[:64],
            action=action if action in Action._value2member_map_ else "",
            grade=grade if grade in GRADES else "",
            sort=sort if sort in SORTS else "action",
            desc=raw.get("desc", "") in ("1", "true", "on"),
            page=max(1, int(page)) if re.fullmatch(r"[0-9]{1,6}", page) else 1,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this view with `changes` (for links: sort, page, filters)."""
        values = {
            "q": self.q,
            "tenant": self.tenant,
            "action": self.action,
            "grade": self.grade,
            "sort": self.sort if self.sort != "action" else "",
            "desc": "1" if self.desc else "",
            "page": str(self.page) if self.page > 1 else "",
        } | {k: str(v) for k, v in changes.items()}
        return {k: v for k, v in values.items() if v}


@dataclass
class Worklist:
    query: WorklistQuery
    rows: list[Any]
    total: int  # rows matching every filter
    groups: list[tuple[str, int]] = field(default_factory=list)  # (action, count) without the action filter
    tenants: list[tuple[str, str]] = field(default_factory=list)  # (ms id, name) for the tenant filter
    pages: int = 1


def _base(caller: Caller, shown: Any, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(Domain)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .where(
            Domain.account_id == caller.account_id,
            Domain.mode == caller.mode,
            Domain.state.in_(LISTED),
            shown != Action.HEALTHY.value,
        )
    )


def _filtered(query: Select[Any], wanted: WorklistQuery, shown: Any, *, with_action: bool = True) -> Select[Any]:
    if wanted.q:
        q = wanted.q.lower()
        query = query.where(
            or_(Domain.name.contains(q, autoescape=True), func.lower(Tenant.tenant_name).contains(q, autoescape=True))
        )
    if wanted.tenant:
        query = query.where(Tenant.ms_tenant_id == wanted.tenant)
    if wanted.grade:
        if wanted.grade == "problem":  # as the fleet counts them: a domain awaiting DNS is not one yet
            query = query.where(Domain.grade.in_(PROBLEMS), shown != Action.AWAITING_DNS.value)
        elif wanted.grade == "none":
            query = query.where(Domain.grade.is_(None))
        else:
            query = query.where(Domain.grade == wanted.grade)
    if wanted.action and with_action:
        query = query.where(shown == wanted.action)
    return query


async def worklist(
    session: AsyncSession, caller: Caller, wanted: WorklistQuery, at: datetime, grace: float
) -> Worklist:
    shown = shown_sql(Domain.next_action, Domain.created_at, at, grace).label("action")
    rank = case({a.value: info.rank for a, info in ACTIONS.items()}, value=shown, else_=99)
    groups_query = _filtered(_base(caller, shown, shown, func.count()), wanted, shown, with_action=False).group_by(
        shown
    )
    groups = sorted(
        ((str(a), int(n)) for a, n in (await session.execute(groups_query)).all()),
        key=lambda g: ACTIONS[Action(g[0])].rank if g[0] in Action._value2member_map_ else 99,
    )
    total = sum(n for a, n in groups if not wanted.action or a == wanted.action)
    order = {
        "action": (rank, Domain.name),
        "name": (Domain.name,),
        "tenant": (Tenant.tenant_name, Domain.name),
        "grade": (_GRADE_ORDER, Domain.name),
        "checked": (Domain.last_checked, Domain.name),
    }[wanted.sort]
    pages = max(1, -(-total // PER_PAGE))
    page = min(wanted.page, pages)
    rows_query = (
        _filtered(
            _base(
                caller,
                shown,
                Domain.name,
                Domain.grade,
                Domain.is_verified,
                Domain.dkim_enabled,
                Domain.spf_status,
                Domain.dkim_status,
                Domain.dmarc_status,
                Domain.mx_status,
                Domain.blocklist_status,
                Domain.last_checked,
                Domain.created_at,
                Domain.action_count,
                shown,
                Tenant.ms_tenant_id.label("tenant_id"),
                Tenant.tenant_name,
            ),
            wanted,
            shown,
        )
        .order_by(*(c.desc() for c in order) if wanted.desc else order)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    rows = list((await session.execute(rows_query)).all())
    tenants_query = (
        select(Tenant.ms_tenant_id, Tenant.tenant_name)
        .where(Tenant.account_id == caller.account_id, Tenant.mode == caller.mode)
        .order_by(Tenant.tenant_name)
    )
    tenants = [(str(i), str(n)) for i, n in (await session.execute(tenants_query)).all()]
    named = Counter(name for _, name in tenants)
    # Two tenants of the same name stay apart in the filter: the start of the GUID tells them apart.
    tenants = [(i, n if named[n] == 1 else f"{n} · {i[:8]}") for i, n in tenants]
    return Worklist(WorklistQuery(**{**wanted.__dict__, "page": page}), rows, total, groups, tenants, pages)
