"""domains.blocklist_status: the health document's blocklist verdict in a column of its own,
for the domain list (reading it out of the JSON parsed every row's document)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 16:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("domains", sa.Column("blocklist_status", sa.String(length=16), nullable=True))
    connection = op.get_bind()
    domains = sa.table("domains", sa.column("id", sa.String), sa.column("health", sa.JSON))
    rows = connection.execute(sa.select(domains.c.id, domains.c.health).where(domains.c.health.is_not(None)))
    for domain_id, health in rows.all():
        raw = json.loads(health) if isinstance(health, str) else health
        status = raw.get("blocklist_status") if isinstance(raw, dict) else None
        if status is not None:
            update = sa.text("UPDATE domains SET blocklist_status = :status WHERE id = :id")
            connection.execute(update, {"status": status, "id": domain_id})


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("blocklist_status")
