"""The events page in Chromium: filters by type, tenant and domain (a GET form), DNS changes left
out unless asked, 50 a page with Older/Newer links on the API's event-id cursor, and each time as
an absolute UTC time (visible) in a <time> element. Bad filters get a 400 page with an alert."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import select

from tenantcore.accounts.models import ApiKey
from tenantcore.db import now
from tenantcore.events.service import event

from ..running import Service
from .test_app import browser, shot, sign_in  # noqa: F401  (the browser fixture)

A, B = "mail.acme-corp.com", "mail.globex.com"


async def seed(service: Service) -> tuple[str, str]:
    """Two tenants; 70 DNS changes on A, 60 other events (A and B alternating), one a minute, oldest first."""
    async with service.client(service.keys["test"]) as api:
        acme = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        globex = (await api.post("/v1/tenants", json={"tenant_name": "Globex"})).json()["tenant_id"]
    start = now() - timedelta(hours=3)
    async with service.database() as session:
        account = await session.scalar(select(ApiKey.account_id).where(ApiKey.mode == "test").limit(1))
        changes = [event(account, "test", acme, A, "domain.dns_changed", f"TXT changed #{i}") for i in range(70)]
        others = [
            event(account, "test", *((acme, A) if i % 2 else (globex, B)), "domain.degraded", f"degraded #{i}")
            for i in range(60)
        ]
        mixed = [row for pair in zip(changes, [*others, *[None] * 10], strict=True) for row in pair if row]
        for i, row in enumerate(mixed):  # inserted (and so numbered) oldest first
            row.created_at = start + timedelta(minutes=i)
            session.add(row)
            await session.flush()
    return acme, globex


async def messages(page: Page) -> list[str]:
    return await page.get_by_role("table", name="Events").locator("td[data-label=What]").all_inner_texts()


async def test_events_filter_page_and_show_absolute_times(browser, service):  # noqa: F811
    acme, _ = await seed(service)
    page = await sign_in(browser, service, service.keys["test"])
    await page.get_by_role("link", name="Events", exact=True).click()
    await expect(page.get_by_label("Type")).to_have_value("")  # "All but DNS changes"
    first = await messages(page)
    assert len(first) == 50 and not any("TXT changed" in m for m in first)
    await expect(page.get_by_role("link", name="← Newer")).to_have_count(0)
    # Newest first, each with its absolute UTC time shown and machine-readable.
    when = page.get_by_role("table", name="Events").locator("time").first
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", await when.get_attribute("datetime"))
    shown = await when.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", shown) and await when.get_attribute("title") == shown
    await shot(page, "events-01-first-page")

    await page.get_by_role("link", name="Older →").click()
    second = await messages(page)
    assert len(second) == 10 and not set(first) & set(second)  # 60 others: the last 10
    assert "starting_after=" in page.url
    await expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    await page.get_by_role("link", name="← Newer").click()
    assert await messages(page) == first

    await page.get_by_label("Type").select_option("all")
    await page.get_by_role("button", name="Filter").click()
    everything = await messages(page)
    assert len(everything) == 50 and any("TXT changed" in m for m in everything)
    await page.get_by_role("link", name="Older →").click()
    await page.get_by_role("link", name="Older →").click()
    assert len(await messages(page)) == 30  # 130 in all: 50 + 50 + 30
    await expect(page.get_by_label("Type")).to_have_value("all")  # filters carry over the pages

    await page.get_by_label("Type").select_option("")
    await page.get_by_label("Tenant").select_option(label="Acme")
    await page.get_by_label("Domain").fill(A.upper())  # names are matched as the API stores them
    await page.get_by_role("button", name="Filter").click()
    acme_only = await messages(page)
    assert len(acme_only) == 30 and all(m.startswith("degraded") for m in acme_only)
    await expect(page.get_by_role("table", name="Events").locator("td[data-label=Domain]").first).to_have_text(A)
    await expect(page.get_by_label("Tenant")).to_have_value(acme)

    await page.get_by_label("Tenant").select_option("")
    await page.get_by_label("Domain").fill(B)
    await page.get_by_label("Type").select_option("domain.dns_changed")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No event matches these filters.")).to_be_visible()
    await shot(page, "events-02-filtered-empty")


async def test_bad_filters_get_a_400_page_with_an_alert(service):
    async with httpx.AsyncClient(base_url=service.url, follow_redirects=True, timeout=30) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/app/login")).text).group(1)
        await client.post("/app/login", data={"csrf": csrf, "api_key": service.keys["test"]})
        for query, says in (
            ("type=domain.nope", "No event type"),
            ("tenant=acme", "tenant GUID"),
            ("domain=not%20a%20domain", "host name"),
            ("starting_after=-3", "starting_after must be an event id"),
            ("ending_before=x", "ending_before must be an event id"),
        ):
            page = await client.get(f"/app/events?{query}")
            assert page.status_code == 400, query
            assert re.search(rf'role="alert">[^<]*{says}', page.text), (query, page.text[-2000:])
        # A tenant that is not connected (any more) is named as the filter, not shown as "All tenants".
        gone = "00000000-0000-0000-0000-0000000000aa"
        page = await client.get(f"/app/events?tenant={gone}")
        assert page.status_code == 200
        assert f'<option value="{gone}" selected>Tenant {gone} (not connected)</option>' in page.text
