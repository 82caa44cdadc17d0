"""webhooks: a delivery's current round of retries (`retry_since`, `retry_attempts`) so a manual
redelivery keeps its creation time and attempt count; several replaced signing secrets may
sign at once (`previous_secrets`, each until its own overlap ends) instead of one

No batch (table-copying) alterations: on SQLite, with foreign keys on, copying
webhook_endpoints or webhook_deliveries would drop the old table and cascade-delete every
delivery and attempt. Plain ADD COLUMN and DROP COLUMN (SQLite 3.35+) alter in place.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

import tenantcore.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_endpoints = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.String),
    sa.column("previous_secret", sa.Text),
    sa.column("previous_until", tenantcore.db.UTCDateTime(timezone=True)),
    sa.column("previous_secrets", sa.JSON),
)


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("retry_since", tenantcore.db.UTCDateTime(timezone=True)))
    op.add_column("webhook_deliveries", sa.Column("retry_attempts", sa.Integer(), nullable=False, server_default="0"))
    # Deliveries so far have had one round, since they were made.
    op.execute(sa.text("UPDATE webhook_deliveries SET retry_since = created_at, retry_attempts = attempts"))

    op.add_column("webhook_endpoints", sa.Column("previous_secrets", sa.JSON(), nullable=False, server_default="[]"))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_endpoints.c.id, _endpoints.c.previous_secret, _endpoints.c.previous_until).where(
            _endpoints.c.previous_secret.is_not(None), _endpoints.c.previous_until.is_not(None)
        )
    )
    for id_, secret, until in rows.all():
        kept = [{"secret": secret, "until": until.isoformat()}]
        connection.execute(sa.update(_endpoints).where(_endpoints.c.id == id_).values(previous_secrets=kept))
    op.drop_column("webhook_endpoints", "previous_until")
    op.drop_column("webhook_endpoints", "previous_secret")


def downgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("previous_secret", sa.Text(), nullable=True))
    op.add_column(
        "webhook_endpoints", sa.Column("previous_until", tenantcore.db.UTCDateTime(timezone=True), nullable=True)
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(_endpoints.c.id, _endpoints.c.previous_secrets))
    for id_, kept in rows.all():
        if kept:  # one column holds one: the replaced secret that signs longest
            last = max(kept, key=lambda entry: datetime.fromisoformat(entry["until"]))
            connection.execute(
                sa.update(_endpoints)
                .where(_endpoints.c.id == id_)
                .values(previous_secret=last["secret"], previous_until=datetime.fromisoformat(last["until"]))
            )
    op.drop_column("webhook_endpoints", "previous_secrets")
    op.drop_column("webhook_deliveries", "retry_attempts")
    op.drop_column("webhook_deliveries", "retry_since")
