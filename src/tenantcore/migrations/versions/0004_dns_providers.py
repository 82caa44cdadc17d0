"""DNS providers: connections per account, each domain's provider and zone, what TenantCore
wrote there, and the evidence a follow-up backed off on

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tenantcore.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dns_providers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("created_at", tenantcore.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "mode", "name", name="uq_dns_providers_account_mode_name"),
    )
    op.create_index("ix_dns_providers_account_id", "dns_providers", ["account_id"])
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followup_evidence", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("dns_provider_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("dns_zone", sa.String(length=253), nullable=True))
        batch_op.add_column(sa.Column("auto_repair", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("dns_owned", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("dns_applied", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_domains_dns_provider_id", ["dns_provider_id"])
        batch_op.create_foreign_key(
            "fk_domains_dns_provider_id", "dns_providers", ["dns_provider_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_constraint("fk_domains_dns_provider_id", type_="foreignkey")
        batch_op.drop_index("ix_domains_dns_provider_id")
        for column in ("dns_applied", "dns_owned", "auto_repair", "dns_zone", "dns_provider_id", "followup_evidence"):
            batch_op.drop_column(column)
    op.drop_index("ix_dns_providers_account_id", table_name="dns_providers")
    op.drop_table("dns_providers")
