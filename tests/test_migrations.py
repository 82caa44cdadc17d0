"""The same Alembic migrations build the schema on SQLite and on PostgreSQL, and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from tenantcore.migrate import alembic_config, upgrade


def test_sqlite_migrations_match_the_models(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises if the models and migrations disagree
    upgrade(url)  # idempotent: a second start changes nothing


def test_postgresql_migrations_match_the_models(postgres_url: str):
    upgrade(postgres_url)
    command.check(alembic_config(postgres_url))
    command.downgrade(alembic_config(postgres_url), "base")
    upgrade(postgres_url)


def test_blocklist_status_is_carried_out_of_existing_health(tmp_path: Path):
    """0008 moves the blocklist verdict into its own column: domains checked before the
    upgrade keep showing it in the list, not null until their next check."""
    import sqlite3

    path = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0007")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', '2026-01-01')")
        db.execute(
            "INSERT INTO tenants (id, account_id, mode, ms_tenant_id, tenant_name, tenant_domain,"
            " exchange_bootstrap_status, discovery_completed, domain_slots, consented_at)"
            " VALUES ('t', 'a', 'test', 'g', 'n', 'n.onmicrosoft.com', 'ok', 1, 12, '2026-01-01')"
        )
        for name, health in (("listed.com", '{"blocklist_status": "listed"}'), ("never.com", None)):
            db.execute(
                "INSERT INTO domains (id, tenant_id, account_id, mode, name, state, is_default, is_verified,"
                " dkim_enabled, verification_records, service_records, spf_status, dkim_status, dmarc_status,"
                " mx_status, health, created_at, updated_at) VALUES (?, 't', 'a', 'test', ?, 'added', 0, 0, 0,"
                " '[]', '[]', 'missing', 'missing', 'missing', 'missing', ?, '2026-01-01', '2026-01-01')",
                (name, name, health),
            )
    upgrade(url)
    with sqlite3.connect(path) as db:
        found = dict(db.execute("SELECT name, blocklist_status FROM domains").fetchall())
    assert found == {"listed.com": "listed", "never.com": None}
