"""domain version (every write names the version it read), when records were last read, and
when a tenant's Exchange was last asked

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tenantcore.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("records_read_at", tenantcore.db.UTCDateTime(timezone=True), nullable=True))
    # Existing domains got their records at add time; adopted ones (no records) are fetched again.
    op.execute(
        "UPDATE domains SET records_read_at = updated_at "
        "WHERE state != 'pending' AND verification_records IS NOT NULL AND json_array_length(verification_records) > 0"
    )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exchange_checked_at", tenantcore.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("exchange_checked_at")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_column("records_read_at")
        batch_op.drop_column("version")
