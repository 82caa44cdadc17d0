"""domains.next_action and domains.action_count: each domain's next step (tenantcore.domains.progress),
kept on the row so the app groups, filters and sorts thousands of domains in SQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.add_column(
        "domains",
        sa.Column("next_action", sa.String(length=24), nullable=False, server_default="check_pending"),
    )
    op.add_column("domains", sa.Column("action_count", sa.Integer(), nullable=False, server_default="0"))
    _backfill()


def _backfill() -> None:
    """Existing domains get their action now, not at their next check. The derivation is the
    application's own (pure functions over the row), so what the app shows after the upgrade is
    exactly what the next write would store."""
    from tenantcore.domains.health import StoredHealth
    from tenantcore.domains.progress import of_domain

    connection = op.get_bind()
    domains = sa.table(
        "domains",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("is_verified", sa.Boolean),
        sa.column("dkim_enabled", sa.Boolean),
        sa.column("grade", sa.String),
        sa.column("blocklist_status", sa.String),
        sa.column("verification_records", sa.JSON),
        sa.column("service_records", sa.JSON),
        sa.column("dkim_config", sa.JSON),
        sa.column("health", sa.JSON),
    )
    last = ""
    while True:
        page = sa.select(domains).where(domains.c.id > last, domains.c.grade.is_not(None))
        rows = connection.execute(page.order_by(domains.c.id).limit(BATCH)).all()
        if not rows:
            return
        updates = []
        for row in rows:
            health = StoredHealth.from_json(row.health) if row.health is not None else None
            view = _Row(row, health)
            action, _ = of_domain(view)  # type: ignore[arg-type]
            updates.append({"_id": row.id, "a": action.action.value, "n": action.count})
        connection.execute(sa.text("UPDATE domains SET next_action = :a, action_count = :n WHERE id = :_id"), updates)
        last = rows[-1].id


class _Row:
    """A row with the attributes `of_domain` reads (the ORM model may be newer than this revision)."""

    def __init__(self, row: sa.Row, health: object) -> None:
        self.name = row.name
        self.is_verified = bool(row.is_verified)
        self.dkim_enabled = bool(row.dkim_enabled)
        self.grade = row.grade
        self.blocklist_status = row.blocklist_status
        self.verification_records = row.verification_records or []
        self.service_records = row.service_records or []
        self.dkim_config = row.dkim_config
        self.health = health


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("action_count")
        batch.drop_column("next_action")
