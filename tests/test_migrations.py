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


def test_webhook_rotation_and_retry_state_is_carried_over(tmp_path: Path):
    """0012: an overlap running at the upgrade keeps its secret signing; deliveries keep their
    round of retries (since creation, with their attempts); a downgrade puts the secret back."""
    import json
    import sqlite3

    path = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0011")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO accounts (id, name, created_at) VALUES ('a', 'a', '2026-01-01')")
        db.execute(
            "INSERT INTO webhook_endpoints (id, account_id, mode, url, description, event_types, enabled, secret,"
            " previous_secret, previous_until, created_at) VALUES ('e', 'a', 'test', 'http://x/', '', '[]', 1,"
            " 'sealed-new', 'sealed-old', '2030-01-02 03:04:05.000000', '2026-01-01 00:00:00.000000')"
        )
        db.execute(
            "INSERT INTO webhook_deliveries (seq, id, endpoint_id, event_type, order_key, payload, status, attempts,"
            " next_attempt_at, created_at) VALUES (1, 'msg_1', 'e', 'webhook.test', 'k', '{}', 'pending', 3,"
            " '2026-01-01 00:10:00.000000', '2026-01-01 00:00:00.000000')"
        )
        db.execute(
            "INSERT INTO webhook_attempts (delivery_seq, attempted_at, status_code, latency_ms)"
            " VALUES (1, '2026-01-01 00:00:01.000000', 500, 12)"
        )
    upgrade(url)
    with sqlite3.connect(path) as db:
        (kept,) = db.execute("SELECT previous_secrets FROM webhook_endpoints").fetchone()
        retry = db.execute("SELECT retry_since, created_at, retry_attempts FROM webhook_deliveries").fetchone()
    assert json.loads(kept) == [{"secret": "sealed-old", "until": "2030-01-02T03:04:05+00:00"}]
    assert retry[0] == retry[1] and retry[2] == 3
    with sqlite3.connect(path) as db:  # nothing cascaded away (a table copy would drop the log)
        assert db.execute("SELECT count(*) FROM webhook_attempts").fetchone() == (1,)
    command.downgrade(alembic_config(url), "0011")
    with sqlite3.connect(path) as db:
        back = db.execute("SELECT previous_secret, previous_until FROM webhook_endpoints").fetchone()
    assert back[0] == "sealed-old" and back[1].startswith("2030-01-02 03:04:05")
