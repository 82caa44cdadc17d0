"""PostgreSQL only: NOTIFY tenantcore_changed when a write could change a domain list (the
tenant's row id when its domains change, `*` when API keys or tenants do), so that every
process keeping list answers (domains/listing.py) drops the stale ones. SQLite needs none:
its processes read `PRAGMA data_version`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 16:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The columns the list shows, and the ones that decide which list a row is in. The worker's
# lease claims (lease_owner, lease_until) touch none of them and notify nothing.
LISTED = (
    "tenant_id, name, state, is_default, is_verified, spf_status, dkim_status, dmarc_status, "
    "mx_status, last_checked, blocklist_status"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION tenantcore_domain_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('tenantcore_changed', OLD.tenant_id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('tenantcore_changed', NEW.tenant_id);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION tenantcore_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tenantcore_changed', '*');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER domains_listed_changed AFTER INSERT OR DELETE ON domains "
        "FOR EACH ROW EXECUTE FUNCTION tenantcore_domain_changed()"
    )
    op.execute(
        f"CREATE TRIGGER domains_listed_updated AFTER UPDATE OF {LISTED} ON domains "
        "FOR EACH ROW EXECUTE FUNCTION tenantcore_domain_changed()"
    )
    for table in ("api_keys", "tenants"):
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tenantcore_everything_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, table in (
        ("domains_listed_changed", "domains"),
        ("domains_listed_updated", "domains"),
        ("api_keys_changed", "api_keys"),
        ("tenants_changed", "tenants"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS tenantcore_domain_changed()")
    op.execute("DROP FUNCTION IF EXISTS tenantcore_everything_changed()")
