"""Importing every model registers its table on `Base.metadata` (for Alembic and tests)."""

from __future__ import annotations


def load_all() -> None:
    import tenantcore.accounts.models
    import tenantcore.dnsproviders.models
    import tenantcore.domains.models
    import tenantcore.events.models
    import tenantcore.history.models
    import tenantcore.idempotency.models
    import tenantcore.ratelimit.models
    import tenantcore.tenants.models
    import tenantcore.webhooks.models  # noqa: F401
