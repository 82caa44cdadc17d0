"""The domain page's health timeline and the fleet page's chart in Chromium: inline SVG with a
title, a description, one column a day and a marker per grade change, and a table beside it.
Screenshots go to test-artifacts/ like the other browser tests."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import expect
from sqlalchemy import insert, select

from tenantcore.accounts.models import ApiKey
from tenantcore.db import now
from tenantcore.history.models import FleetHealthDay

from ..api.test_history import up
from .test_app import browser, shot, sign_in  # noqa: F401  (the browser fixture)

D = "mail.acme-corp.com"


async def test_history_charts_in_a_browser(browser, service):  # noqa: F811
    async with service.client(service.keys["test"]) as api:
        tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        base = f"/v1/tenants/{tenant_id}/domains/{D}"
        assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
        await up(api, base)  # error to ok: grade changes, each a transition
    today = now().date()
    async with service.database() as session:  # the fleet's past days, as the worker's snapshots left them
        account_id = await session.scalar(select(ApiKey.account_id).where(ApiKey.mode == "test").limit(1))
        await session.execute(
            insert(FleetHealthDay),
            [
                {
                    "account_id": account_id,
                    "mode": "test",
                    "day": today - timedelta(days=i),
                    "domains": 40,
                    "healthy": 40 - (i % 7) - (i % 3),
                    "problems": i % 7,
                    "unknown": i % 3,
                    "blocklisted": i % 4,
                    "updated_at": now(),
                }
                for i in range(1, 20)
            ],
        )

    page = await sign_in(browser, service, service.keys["test"])
    chart = page.locator("svg#fleet-chart")
    await expect(chart).to_be_visible()
    await expect(chart.locator("title").first).to_have_text("Fleet health over the last 30 days")
    await expect(chart.locator("desc")).to_contain_text("blocklisted")
    await expect(chart.locator("g.day")).to_have_count(19)  # a column per snapshot day
    await expect(chart.locator("polyline.blocklisted")).to_have_count(1)
    assert await chart.locator("rect.problem").count() > 0
    await page.get_by_text("The figures as a table").click()
    await expect(page.get_by_role("table", name="Fleet health by day").get_by_role("row")).to_have_count(20)
    await shot(page, "30-fleet-history")

    await page.goto(f"/app/tenants/{tenant_id}/domains/{D}")
    timeline = page.locator("svg#health-timeline")
    await expect(timeline).to_be_visible()
    await expect(timeline.locator("title").first).to_have_text(f"Health of {D} over the last 30 days")
    await expect(timeline.locator("desc")).to_contain_text("grade change")
    await expect(timeline.locator("desc")).to_contain_text(
        re.compile(r"healthy \d{1,3}% of the observed time")
    )  # a share of the seconds since the add (how many depends on the machine's speed)
    await expect(timeline.locator("g.day")).to_have_count(30)
    markers = await timeline.locator("g.marker").count()
    # Added (error), records published before verification (info: DKIM keys not issued yet),
    # verified with Microsoft's two new DKIM CNAMEs to publish (error), published (ok).
    classes = await timeline.locator("g.marker").evaluate_all("els => els.map(e => e.getAttribute('class'))")
    assert markers >= 1 and classes[-1] == "marker fixed", classes  # the last: back to ok
    # Added today: the 29 days before have no data (today too, while less than a second was observed).
    assert await timeline.locator("rect.nodata").count() in (29, 30)
    changes = page.get_by_role("table", name="Grade changes")
    await expect(changes.get_by_role("row")).to_have_count(markers + 1)
    await expect(changes).to_contain_text("→")
    # Which finding broke the domain, and which fix brought it back: at verification Microsoft
    # issues the DKIM keys, whose two CNAMEs are then missing until they are published.
    newest, before_it = changes.locator("tbody tr").nth(0), changes.locator("tbody tr").nth(1)
    await expect(newest.locator("td[data-label='Fixed']")).to_contain_text("dkim_selector_missing")
    await expect(before_it.locator("td[data-label='Broke it']")).to_contain_text("dkim_selector_missing")
    assert await page.locator("svg#health-timeline").get_attribute("role") == "img"
    await page.locator("#health-history").scroll_into_view_if_needed()
    await shot(page, "31-domain-history-30")

    await page.get_by_role("link", name="90 days").click()
    await expect(page.locator("svg#health-timeline g.day")).to_have_count(90)
    await expect(page.locator("svg#health-timeline title").first).to_have_text(f"Health of {D} over the last 90 days")
    await shot(page, "32-domain-history-90")
    assert page.elsewhere == []  # nothing fetched from anywhere else (no CDN)
