"""The lifecycle's transitions and their version-checked writes, without HTTP: on SQLite and
on PostgreSQL, as the service uses them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from tenantcore.accounts.models import Account
from tenantcore.config import Settings
from tenantcore.db import now
from tenantcore.dnshealth.records import Purpose
from tenantcore.domains import lifecycle, onboarding, repository
from tenantcore.domains.health import StoredHealth
from tenantcore.domains.models import Domain
from tenantcore.domains.states import DomainState
from tenantcore.errors import TenantCoreError
from tenantcore.events.models import Event
from tenantcore.microsoft.errors import MicrosoftError
from tenantcore.runtime import Runtime
from tenantcore.tenants.models import Tenant

MS_TENANT = "0b5e5a1c-0d6e-4f6b-9a43-3f0cbb2e8f11"


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", sandbox=False)
    async with Runtime.opened(settings) as running:
        yield running


async def added_domain(runtime: Runtime, name: str = "mail.acme-corp.com") -> Domain:
    account_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with runtime.transaction() as session:
        await session.execute(insert(Account).values(id=account_id, name="acme"))
        await session.execute(
            insert(Tenant).values(
                id=tenant_id,
                account_id=account_id,
                mode="live",
                ms_tenant_id=MS_TENANT,
                tenant_name="Acme",
                tenant_domain="acme.onmicrosoft.com",
            )
        )
        domain = Domain(tenant_id=tenant_id, account_id=account_id, mode="live", name=name, state=DomainState.ADDED)
        session.add(domain)
    return domain


async def stored(runtime: Runtime, domain_id: str) -> Domain | None:
    async with runtime.sessions() as session:
        return await repository.get_by_id(session, domain_id)


async def event_types(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(Event.type).order_by(Event.id))).all())


def test_a_change_judges_the_row_it_is_applied_to():
    domain = Domain(name="mail.acme-corp.com", account_id="a", mode="live", state=DomainState.ADDED)
    first = lifecycle.verified(MS_TENANT, by="request")(domain)
    again = lifecycle.verified(MS_TENANT, by="reconciler")(domain)
    assert [e.type for e in first] == ["domain.verified"] and again == []
    assert (domain.state, domain.is_verified) == (DomainState.VERIFIED, True)
    assert lifecycle.dkim_enabled(MS_TENANT, by="request")(domain)[0].type == "domain.dkim_enabled"
    assert lifecycle.dkim_enabled(MS_TENANT, by="request")(domain) == []
    assert domain.state == DomainState.DKIM_ENABLED


def test_preview_leaves_the_loaded_row_untouched():
    domain = Domain(name="mail.acme-corp.com", account_id="a", mode="live", state=DomainState.ADDED, is_verified=False)
    seen = lifecycle.preview(domain, lifecycle.verified(MS_TENANT, by="request"))
    assert seen.is_verified and not domain.is_verified and domain.state == DomainState.ADDED


async def test_a_write_that_lost_a_race_is_applied_to_the_fresh_row(runtime):
    domain = await added_domain(runtime)
    # Two callers read the same row; both act; neither update is lost, no event is doubled.
    first, second = await stored(runtime, domain.id), await stored(runtime, domain.id)
    assert first is not None and second is not None
    await lifecycle.commit(runtime, first, lifecycle.verified(MS_TENANT, by="request"))
    config = {"Selector1CNAME": "s1.example", "Selector2CNAME": "s2.example", "Enabled": False}
    await lifecycle.commit(runtime, second, lifecycle.dkim_keys(config), lifecycle.verified(MS_TENANT, by="x"))
    final = await stored(runtime, domain.id)
    assert final is not None
    assert (final.is_verified, final.state, final.dkim_config, final.version) == (
        True,
        DomainState.VERIFIED,
        config,
        2,
    )
    assert await event_types(runtime) == ["domain.verified"]


async def test_a_write_to_a_deleted_domain_is_not_found_and_creates_nothing(runtime):
    domain = await added_domain(runtime)
    async with runtime.transaction() as session:
        await repository.remove(session, domain.id)
    with pytest.raises(TenantCoreError) as raised:
        await lifecycle.commit(runtime, domain, lifecycle.verified(MS_TENANT, by="request"))
    assert (raised.value.status, raised.value.code) == (404, "domain_not_found")
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Domain)) == 0
    assert await event_types(runtime) == []


async def test_stored_health_is_typed_in_and_out_of_the_database(runtime):
    domain = await added_domain(runtime)
    finding = {"code": "spf_missing", "severity": "error", "area": "spf", "message": "m", "fix": "f"}

    def checked(row: Domain) -> list[Event]:
        row.health = StoredHealth(findings=[finding], selectors={"selector1": "missing"}, observed={"mx": []})
        return []

    await lifecycle.commit(runtime, domain, checked)
    back = await stored(runtime, domain.id)
    assert back is not None and isinstance(back.health, StoredHealth)
    assert back.health.has("spf_missing") and back.health.selectors == {"selector1": "missing"}


def test_failed_follow_ups_back_off_doubling_and_only_real_failures_raise_an_event():
    domain = Domain(name="mail.acme-corp.com", account_id="a", mode="live", followup_failures=0)
    quiet = onboarding.backed_off(60, MS_TENANT)
    for attempt in (1, 2, 3):
        assert quiet(domain) == []
        wait = (domain.followup_after - now()).total_seconds()
        assert 60 * 2 ** (attempt - 1) - 2 < wait <= 60 * 2 ** (attempt - 1)
    failure = MicrosoftError("Microsoft refused", status=500)
    [raised] = onboarding.backed_off(60, MS_TENANT, failure)(domain)
    assert raised.type == "domain.followup_failed" and raised.data["attempt"] == 4
    for _ in range(20):
        onboarding.backed_off(60, MS_TENANT)(domain)
    assert domain.followup_after - now() <= timedelta(seconds=onboarding.BACKOFF_CAP)
    onboarding.succeeded(domain)
    assert (domain.followup_failures, domain.followup_after) == (0, None)


async def test_a_backoff_holds_on_the_same_evidence_and_new_evidence_ends_it(store, dns_server, tmp_path: Path):
    """The follow-up waits out its backoff only while checks show the same thing: a record
    that appears (new evidence) makes the next step due at once, and its backoff starts over."""
    from tenantcore.dnshealth import HealthChecker, ResolverConfig

    name = "acme-corp.com"
    dkim = {
        "Selector1CNAME": "selector1-acme-corp-com._domainkey.t.onmicrosoft.com",
        "Selector2CNAME": "selector2-acme-corp-com._domainkey.t.onmicrosoft.com",
    }
    domain = Domain(
        name=name,
        account_id="a",
        mode="live",
        state=DomainState.VERIFIED,
        is_verified=True,
        dkim_config=dkim,
        verification_records=[],
        service_records=[],
    )
    domain.followup_failures = 0
    checker = HealthChecker(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1))
    settings = Settings(data_dir=tmp_path, sandbox=False)
    store.add_zone(name)
    store.publish(lifecycle.expected(domain).of(Purpose.DKIM))
    report = await checker.check(name, lifecycle.expected(domain), True)
    assert report.ready_to_enable and onboarding.ready(domain, report, settings)

    for _ in range(3):  # Exchange keeps saying the CNAMEs are missing: the same evidence backs off
        onboarding.backed_off(60, MS_TENANT, seen=onboarding.evidence(domain, report))(domain)
    assert domain.followup_failures == 3
    again = await checker.check(name, lifecycle.expected(domain), True)
    assert not onboarding.ready(domain, again, settings)

    store.publish(lifecycle.expected(domain).of(Purpose.DMARC))  # something new shows in DNS
    fresh = await checker.check(name, lifecycle.expected(domain), True)
    assert fresh.fingerprint != report.fingerprint
    assert onboarding.ready(domain, fresh, settings)
    onboarding.backed_off(60, MS_TENANT, seen=onboarding.evidence(domain, fresh))(domain)
    assert domain.followup_failures == 1  # new evidence: the backoff starts from the first wait

    onboarding.deferred(30)(domain)  # Microsoft's own pause (throttling) holds whatever DNS shows
    assert not onboarding.ready(domain, report, settings)
