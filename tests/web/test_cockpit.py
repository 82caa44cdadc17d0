"""The operator's cockpit in Chromium with an agency's fleet (20 tenants x 12 domains): the
problems page groups the work by next action, filters, searches, sorts, pages and acts on a
selection; the fleet searches, sorts and links its counts. Screenshots at laptop and phone
width go to test-artifacts/."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update

from tenantcore.tenants.models import Tenant

from ..running import Service
from .test_app import browser, shot, sign_in  # noqa: F401  (the browser fixture)
from .test_dns_pages import app  # noqa: F401  (a signed-in HTTP client)

TENANTS, DOMAINS = 20, 12
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def fleet_service(tmp_path: Path) -> Iterator[Service]:
    # No embedded worker: the reconciler would verify and enable DKIM behind the test's back.
    # No grace period: unpublished records are "publish", not "awaiting DNS" (test_app covers that).
    running = Service(tmp_path / "data", domain_limit=DOMAINS, worker=False, dns_grace=0)
    yield running
    running.stop()


def name(t: int, d: int) -> str:
    return f"d{d:02d}.client{t:02d}.com"


async def build_fleet(service: Service) -> dict[str, str]:
    """20 tenants of 12 never-published domains; in Client 00, d00 is verified (its DKIM CNAMEs
    are next) and d01 is published (waiting for Microsoft). Returns tenant name → id."""
    ids: dict[str, str] = {}
    async with service.client(service.keys["test"]) as api:

        async def tenant(t: int) -> None:
            made = await api.post("/v1/tenants", json={"tenant_name": f"Client {t:02d}"})
            assert made.status_code == 201, made.text
            tenant_id = made.json()["tenant_id"]
            ids[f"Client {t:02d}"] = tenant_id
            added = await api.post(
                f"/v1/tenants/{tenant_id}/domains/bulk", json={"domains": [name(t, d) for d in range(DOMAINS)]}
            )
            assert added.json()["added"] == DOMAINS, added.text

        for start in range(0, TENANTS, 5):
            await asyncio.gather(*(tenant(t) for t in range(start, start + 5)))
        base = f"/v1/tenants/{ids['Client 00']}/domains"
        for d in (name(0, 0), name(0, 1)):
            assert (await api.post(f"{base}/{d}/dns/publish")).status_code == 200
        assert (await api.post(f"{base}/{name(0, 0)}/verify")).status_code == 200
    return ids


def group(page: Page, label: str):
    return page.get_by_role("navigation", name="By next action").get_by_role("link", name=re.compile(label))


async def test_the_problems_page_and_the_fleet_for_an_agency(browser, fleet_service):  # noqa: F811
    ids = await build_fleet(fleet_service)
    page = await sign_in(browser, fleet_service, fleet_service.keys["test"])

    # The fleet: plan usage, counts that link to the work they count.
    await expect(page.get_by_text("tenants in your plan")).to_be_visible()
    await expect(page.locator(".stat").first).to_contain_text("20 / 25")
    # Sorted by work waiting: Client 00 has one domain less on the operator (d01 waits for Microsoft).
    await page.goto("/app")
    await page.get_by_role("link", name="Waiting on you", exact=True).click()
    body_rows = page.get_by_role("table", name="Tenants").locator("tbody tr")
    await expect(body_rows.first.get_by_role("rowheader")).to_contain_text("Client 00")
    await expect(body_rows.first).to_contain_text("11")
    await page.get_by_role("link", name=re.compile("^Waiting on you ▲")).click()
    await expect(body_rows.last.get_by_role("rowheader")).to_contain_text("Client 00")
    await expect(body_rows.first.get_by_role("rowheader")).to_contain_text("Client 01")  # ties stay by name
    await page.get_by_label("Search tenants").fill("client 07")
    await page.get_by_role("button", name="Search").click()
    tenants = page.get_by_role("table", name="Tenants")
    await expect(tenants.get_by_role("row")).to_have_count(2)  # header and Client 07
    await expect(tenants).to_contain_text("Client 07")
    await page.get_by_role("link", name="12 domains of Client 07 waiting on you").click()
    await expect(page).to_have_title(re.compile("^Problems"))
    rows = page.get_by_role("table", name="Domains with something to do").locator("tbody tr")
    await expect(rows).to_have_count(12)
    await expect(page.get_by_label("Tenant", exact=True)).to_have_value(ids["Client 07"])

    # The whole list: grouped by next action with counts, 50 a page.
    await page.goto("/app/problems")
    await expect(group(page, "^Publish records")).to_contain_text("238")
    await expect(group(page, "^Publish DKIM CNAMEs")).to_contain_text("1")
    await expect(group(page, "^Waiting for Microsoft")).to_contain_text("1")
    await expect(rows).to_have_count(50)
    await expect(page.get_by_text("240 domains, page 1 of 5")).to_be_visible()
    await expect(rows.first).to_contain_text("Publish 2 DKIM CNAMEs")  # what the operator must do first
    await shot(page, "40-problems")
    await page.get_by_role("link", name="Next →").click()
    await expect(page.get_by_text("240 domains, page 2 of 5")).to_be_visible()

    # Search, filter, sort.
    await page.goto("/app/problems")
    await page.get_by_label("Search domain or tenant").fill("d03.client1")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(10)  # client10 … client19
    await page.get_by_role("link", name="Domain", exact=True).click()
    await expect(rows.first.get_by_role("rowheader")).to_have_text(name(10, 3))
    await page.get_by_role("link", name=re.compile("^Domain ▲")).click()
    await expect(rows.first.get_by_role("rowheader")).to_have_text(name(19, 3))
    await group(page, "^Publish records").click()
    await expect(rows).to_have_count(10)
    await page.goto("/app/problems?action=publish_dkim")
    await expect(rows).to_have_count(1)
    await expect(rows.first.get_by_role("rowheader")).to_have_text(name(0, 0))

    # Bulk: publish two domains, then verify them; the groups move with them.
    await page.goto(f"/app/problems?tenant={ids['Client 00']}&sort=name")
    for d in (2, 3):
        await page.get_by_label(f"Select {name(0, d)}").check()
    await page.get_by_role("button", name="Publish records").click()
    await expect(page.get_by_role("status").first).to_contain_text("2 domains published")
    await expect(page).to_have_url(re.compile(r"/app/problems\?tenant="))  # back where the operator was
    for d in (2, 3):
        await page.get_by_label(f"Select {name(0, d)}").check()
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("status").first).to_contain_text("2 domains verified")
    await expect(group(page, "^Publish DKIM CNAMEs")).to_contain_text("3")
    for d in (4, 5):  # never published: Microsoft refuses, each failure named
        await page.get_by_label(f"Select {name(0, d)}").check()
    await page.get_by_role("button", name="Verify").click()
    failed = page.locator(".flash.error")
    await expect(failed).to_contain_text(f"2 failed. {name(0, 4)}: ")
    await expect(failed).to_contain_text(f"; {name(0, 5)}: ")
    await expect(failed).not_to_contain_text(".;")

    # Zone files, one per tenant of the selection.
    await page.goto("/app/problems?q=d00.client")
    await page.get_by_label(f"Select {name(0, 0)}").check()
    await page.get_by_label(f"Select {name(1, 0)}").check()
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download zone files (one per tenant)").click()
    download = await download_info.value
    archive = zipfile.ZipFile(io.BytesIO(await asyncio.to_thread(Path(await download.path()).read_bytes)))
    assert sorted(archive.namelist()) == ["Client-00.zone", "Client-01.zone"]
    zone = archive.read("Client-00.zone").decode()
    assert "$ORIGIN client00.com." in zone and "MS=ms" in zone and "selector1._domainkey.d00" in zone
    assert "d01.client00.com" not in zone and "\nd01\t" not in zone  # only the selection

    # At phone width: the pages still work (the layout itself is checked with axe elsewhere).
    phone = await (await browser.new_context(base_url=fleet_service.url, viewport=PHONE)).new_page()
    await phone.context.add_cookies(await page.context.cookies())
    await phone.goto("/app/problems")
    await expect(phone.get_by_role("heading", name="Problems")).to_be_visible()
    await shot(phone, "41-problems-phone")
    await phone.goto("/app")
    await shot(phone, "42-fleet-phone")
    await phone.goto(f"/app/tenants/{ids['Client 00']}/domains/{name(0, 0)}")
    await expect(phone.get_by_role("heading", name="Next: Publish 2 DKIM CNAMEs")).to_be_visible()
    await shot(phone, "43-domain-phone")
    await page.goto("/app")
    await shot(page, "44-fleet-20-tenants")


async def test_a_tenant_zone_file_holds_every_domain(browser, fleet_service):  # noqa: F811
    async with fleet_service.client(fleet_service.keys["test"]) as api:
        tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Acme & Co"})).json()["tenant_id"]
        names = ["mail.acme-corp.com", "send.acme-corp.com", "acme-mail.net"]
        assert (await api.post(f"/v1/tenants/{tenant_id}/domains/bulk", json={"domains": names})).json()["added"] == 3
    page = await sign_in(browser, fleet_service, fleet_service.keys["test"])
    await page.goto(f"/app/tenants/{tenant_id}")
    await expect(page.get_by_role("table", name="Domains of Acme & Co")).to_contain_text("Publish 5 records")
    link = page.get_by_role("link", name="Download zone file (all 3 domains)")
    body = await (await page.request.get(await link.get_attribute("href"))).text()
    # A $ORIGIN per zone: the two acme-corp.com names share one, hosts relative to it.
    assert body.count("$ORIGIN") == 2
    assert "$ORIGIN acme-corp.com." in body and "$ORIGIN acme-mail.net." in body
    assert re.search(r"^_dmarc\.send\t", body, re.M) and re.search(r"^_dmarc\t", body, re.M)
    csv_body = await (await page.request.get(f"/app/tenants/{tenant_id}/zone?format=csv")).text()
    assert csv_body.splitlines()[0] == "zone,host,type,value,ttl,priority"
    assert "acme-corp.com,_dmarc.mail,TXT," in csv_body


async def test_domains_added_just_now_are_awaiting_dns_not_problems(browser, service):  # noqa: F811
    async with service.client(service.keys["test"]) as api:
        tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Fresh"})).json()["tenant_id"]
        names = ["new1.acme-corp.com", "new2.acme-corp.com"]
        assert (await api.post(f"/v1/tenants/{tenant_id}/domains/bulk", json={"domains": names})).json()["added"] == 2
    page = await sign_in(browser, service, service.keys["test"])
    await expect(page.get_by_role("link", name="awaiting DNS (just added)")).to_be_visible()

    def card(label: str):
        return page.locator(".card", has=page.get_by_role("link", name=label, exact=True)).locator(".stat")

    await expect(card("awaiting DNS (just added)")).to_have_text("2")
    await expect(card("with problems")).to_have_text("0")  # not yet: they were added seconds ago
    await expect(page.get_by_role("link", name=re.compile("domains of Fresh with problems"))).to_have_count(0)
    await page.get_by_role("link", name="awaiting DNS (just added)").click()
    rows = page.get_by_role("table", name="Domains with something to do").locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Awaiting DNS (5 records)")
    await expect(rows.first.locator(".badge")).to_have_text("awaiting DNS")  # not a red "error"
    await page.goto("/app/problems?grade=problem")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("No domain has a problem")


async def test_bad_query_values_on_the_pages_are_ignored_not_errors(app):  # noqa: F811
    for path in (
        "/app?sort=bogus&page=abc&days=x&problems=0",
        "/app?page=%C2%B2&days=%C2%B2",  # "²".isdigit() is true, int("²") fails
        "/app?days=" + "9" * 5000,
        "/app/problems?page=%D9%A3",
        "/app?page=-1&desc=1&q=" + "y" * 3000,
        "/app/problems?page=abc&sort=zzz&desc=x&grade=bogus&action=nope",
        "/app/problems?page=99999999999999999999&q=%25%5F%00'%22<script>",
        "/app/problems?tenant=" + "x" * 5000,
    ):
        answer = await app.client.get(path)
        assert answer.status_code == 200, (path[:60], answer.status_code)
        assert "<script>" not in answer.text.split("</head>", 1)[1].replace("app.js", "")

    for path in ("/app/events?ending_before=%C2%B2", "/app/events?starting_after=" + "9" * 5000):
        answer = await app.client.get(path)
        assert answer.status_code == 400 and "must be an event id" in answer.text, path[:60]


async def test_a_tenant_name_cannot_write_into_its_zone_file_and_search_takes_underscores(app, api, service):  # noqa: F811
    evil = "Acme_Corp\n$ORIGIN evil.example.\n@ IN MX 0 mx.evil"
    refused = await api.post("/v1/tenants", json={"tenant_name": evil})
    assert refused.status_code == 400 and refused.json()["detail"]["code"] == "invalid_request"
    page = await app.post("/app/tenants", {"tenant_name": evil})
    assert "one line of printable characters" in page.text and "evil.example" not in page.text
    made = await api.post("/v1/tenants", json={"tenant_name": "Acme_Corp"})
    assert made.status_code == 201, made.text
    tenant_id = made.json()["tenant_id"]
    # A name that arrived some other way (Microsoft's organization name, an older version)
    # still stays in its comment line.
    async with service.database() as session:
        await session.execute(update(Tenant).where(Tenant.ms_tenant_id == tenant_id).values(tenant_name=evil))
    assert (
        await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": "mail.acme-corp.com"})
    ).status_code == 201
    zone = (await app.client.get(f"/app/tenants/{tenant_id}/zone")).text
    assert "evil" in zone.splitlines()[0]  # the name stays in the one comment line
    assert not any(line.startswith(("$ORIGIN evil", "@ IN MX")) for line in zone.splitlines())
    assert "Acme_Corp" in (await app.client.get("/app?q=acme_corp")).text  # "_" is a character, not a wildcard
    assert "Acme_Corp" in (await app.client.get(f"/app?q={tenant_id[:13]}")).text  # a tenant GUID finds it too
    assert "Acme_Corp" not in (await app.client.get("/app?q=globex")).text
    found = await app.client.get("/app/problems?q=acme_corp")
    assert "mail.acme-corp.com" in found.text
    assert "mail.acme-corp.com" not in (await app.client.get("/app/problems?q=acme%25corp")).text


async def test_the_tenant_filter_names_an_unknown_tenant_and_tells_namesakes_apart(app, api):  # noqa: F811
    first = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    second = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    page = (await app.client.get("/app/problems")).text
    assert f">Acme · {first[:8]}</option>" in page and f">Acme · {second[:8]}</option>" in page
    gone = "00000000-0000-0000-0000-0000000000aa"
    filtered = (await app.client.get(f"/app/problems?tenant={gone}")).text
    assert f"No connected tenant has the ID {gone}" in filtered
    assert f'<option value="{gone}" selected>Unknown tenant {gone}</option>' in filtered


async def test_an_international_domain_reads_as_its_owner_writes_it(app, api):  # noqa: F811
    tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Bücher"})).json()["tenant_id"]
    added = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": "bücher-mail.de"})
    assert added.status_code == 201, added.text
    assert "xn--bcher-mail-9db.de" in added.text
    shown = "bücher-mail.de (xn--bcher-mail-9db.de)"
    assert shown in (await app.client.get(f"/app/tenants/{tenant_id}")).text
    domain_page = (await app.client.get(f"/app/tenants/{tenant_id}/domains/xn--bcher-mail-9db.de")).text
    assert f"<title>{shown} · TenantCore</title>" in domain_page
    # The records, exports and fix texts keep the ASCII name registrars take.
    assert "bücher-mail.de" not in domain_page.replace(shown, "")
    assert domain_page.count("xn--bcher-mail-9db.de") > domain_page.count(shown) + 2
