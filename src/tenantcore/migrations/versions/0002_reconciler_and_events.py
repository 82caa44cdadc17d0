"""reconciler and events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:08:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tenantcore.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=1024), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", tenantcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_scope", ["account_id", "mode", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_tenant_id"), ["tenant_id"], unique=False)

    # Existing domains become due at once; server defaults fill the new NOT NULL columns.
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_check_at", tenantcore.db.UTCDateTime(timezone=True), nullable=False, server_default=sa.func.now()
            )
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", tenantcore.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("followup_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("followup_after", tenantcore.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_domains_next_check_at"), ["next_check_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domains_next_check_at"))
        for column in (
            "followup_after",
            "followup_failures",
            "check_count",
            "lease_until",
            "lease_owner",
            "next_check_at",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_tenant_id"))
        batch_op.drop_index("ix_events_scope")
    op.drop_table("events")
