"""health history: each domain's grade transitions, a daily rollup per domain, and the fleet's
daily rollup per account and mode

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tenantcore.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("domain_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("at", tenantcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_grade", sa.String(length=16), nullable=False),
        sa.Column("to_grade", sa.String(length=16), nullable=False),
        sa.Column("broke", sa.JSON(), nullable=False),
        sa.Column("fixed", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_health_transitions_domain_at", "health_transitions", ["domain_id", "at"])
    op.create_table(
        "domain_health_days",
        sa.Column("domain_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("start_grade", sa.String(length=16), nullable=False),
        sa.Column("worst_grade", sa.String(length=16), nullable=False),
        sa.Column("last_grade", sa.String(length=16), nullable=False),
        sa.Column("last_at", tenantcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("healthy_seconds", sa.Integer(), nullable=False),
        sa.Column("problem_seconds", sa.Integer(), nullable=False),
        sa.Column("unknown_seconds", sa.Integer(), nullable=False),
        sa.Column("transitions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain_id", "day"),
    )
    op.create_index("ix_domain_health_days_day", "domain_health_days", ["day"])
    op.create_table(
        "fleet_health_days",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("domains", sa.Integer(), nullable=False),
        sa.Column("healthy", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("blocklisted", sa.Integer(), nullable=False),
        sa.Column("updated_at", tenantcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "mode", "day"),
    )
    op.create_index("ix_fleet_health_days_day", "fleet_health_days", ["day"])


def downgrade() -> None:
    op.drop_index("ix_fleet_health_days_day", table_name="fleet_health_days")
    op.drop_table("fleet_health_days")
    op.drop_index("ix_domain_health_days_day", table_name="domain_health_days")
    op.drop_table("domain_health_days")
    op.drop_index("ix_health_transitions_domain_at", table_name="health_transitions")
    op.drop_table("health_transitions")
