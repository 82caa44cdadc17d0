"""The app in Debian's headless Chromium, driven by Playwright, through the whole sandbox flow.
Screenshots of each page are saved in test-artifacts/ (CI keeps them)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from ..running import Service

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
D = "mail.acme-corp.com"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed: `./dev test` installs it when run as root")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        await browser.close()


async def sign_in(browser: Browser, service: Service, key: str) -> Page:
    page = await (await browser.new_context(base_url=service.url, viewport={"width": 1366, "height": 900})).new_page()
    page.elsewhere = []  # type: ignore[attr-defined]
    # Works offline: record any request that leaves this server (CDNs, web fonts...).
    page.on("request", lambda r: None if r.url.startswith(service.url) else page.elsewhere.append(r.url))
    # Anything the Content-Security-Policy blocks shows up here (a page the policy would break).
    page.blocked = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: page.blocked.append(m.text) if "Content Security Policy" in m.text else None,  # type: ignore[attr-defined]
    )
    await page.goto("/app")
    await expect(page).to_have_url(f"{service.url}/app/login")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_whole_sandbox_flow_in_a_browser(browser, service):
    page = await sign_in(browser, service, service.keys["test"])
    await shot(page, "01-fleet-empty")

    await page.get_by_label("Sandbox tenant name").fill("Acme")
    await page.get_by_role("button", name="Connect sandbox tenant").click()
    await expect(page.get_by_role("heading", name="Acme")).to_be_visible()

    await page.get_by_label("One domain per line").fill(f"{D}\nnot a domain\n")
    await page.get_by_role("button", name="Add").click()
    results = page.get_by_role("table", name="Results")
    await expect(results.get_by_role("row", name=D)).to_contain_text("added")
    await expect(results.get_by_role("row", name="not a domain")).to_contain_text("characters a host name cannot use")
    await shot(page, "02-tenant-added")

    await page.get_by_role("link", name=D).click()
    await expect(page.get_by_role("heading", name=D)).to_be_visible()
    # Just added: its records read "awaiting DNS", not "error", and the next step says what to do.
    await expect(page.get_by_role("heading", name=D)).to_contain_text("awaiting DNS")
    await expect(page.get_by_role("heading", name="Next: Awaiting DNS")).to_be_visible()
    await expect(page.locator("ol.steps [aria-current=step]")).to_have_text("2 DNS records published")
    records = page.get_by_role("table", name="Records to publish")
    await expect(records.get_by_role("row").filter(has_text="MS=ms")).to_contain_text("✗ missing")
    await expect(page.get_by_role("button", name="Copy TXT mail: MS=ms")).to_be_visible()
    await expect(
        page.get_by_role("button", name="Copy TXT mail: v=spf1 include:spf.protection.outlook.com")
    ).to_be_visible()
    await expect(page.get_by_role("button", name="Enable DKIM")).to_have_count(0)  # not before verification
    # Fix texts name the host exactly as the records table does (relative to the zone).
    await expect(page.get_by_text('At host "mail" of zone acme-corp.com, publish a TXT record: MS=ms')).to_be_visible()
    await shot(page, "03-domain-new")
    download_link = page.get_by_role("link", name="Download BIND")
    bind = await page.request.get(await download_link.get_attribute("href"))
    assert (await bind.text()).startswith("$ORIGIN acme-corp.com.")

    await page.get_by_role("button", name="Verify now").click()
    await expect(page.get_by_role("alert")).to_contain_text("DNS records not yet propagated")

    await page.get_by_role("button", name="Publish records").click()
    await expect(page.get_by_role("status").first).to_contain_text("published")
    await expect(records.get_by_role("row").filter(has_text="MS=ms")).to_contain_text("✓ published")
    await page.get_by_role("button", name="Verify now").click()
    await expect(page.get_by_role("status").first).to_contain_text("Verified in Microsoft 365")
    # The known Microsoft 365 trap: two DKIM CNAMEs join the records after verification.
    await expect(page.get_by_text("2 new records to publish")).to_be_visible()
    await expect(page.get_by_role("heading", name="Next: Publish 2 DKIM CNAMEs")).to_be_visible()
    await expect(page.get_by_role("button", name="Verify now")).to_have_count(0)
    await page.get_by_role("button", name="Re-check DNS").click()
    await expect(
        page.get_by_text('At host "selector1._domainkey.mail" of zone acme-corp.com, publish a CNAME to selector1-')
    ).to_be_visible()
    await expect(records.get_by_role("row").filter(has_text="selector1._domainkey.mail")).to_contain_text("✗ missing")
    await shot(page, "03b-domain-verified")
    await page.get_by_role("button", name="Publish records").click()  # now with the DKIM CNAMEs
    await expect(page.get_by_role("heading", name="Next: Enable DKIM")).to_be_visible()
    await expect(page.get_by_text("DKIM: CNAMEs published, signing off")).to_be_visible()
    await page.get_by_role("button", name="Enable DKIM").click()
    await expect(page.get_by_role("status").first).to_contain_text("DKIM enabled")
    await expect(page.get_by_role("heading", name=D)).to_contain_text("ok")
    await expect(page.get_by_role("heading", name="Next: Healthy")).to_be_visible()
    await expect(page.get_by_role("button", name="Enable DKIM")).to_have_count(0)
    await expect(page.get_by_text("Both DKIM selector CNAMEs point at Microsoft 365.")).to_be_visible()
    await expect(page.get_by_role("cell", name="domain.dkim_enabled")).to_be_visible()
    await shot(page, "04-domain-healthy")

    await page.get_by_role("link", name="Fleet").first.click()
    tenant_row = page.get_by_role("row", name="Acme")
    await expect(tenant_row).to_contain_text("1")
    await shot(page, "05-fleet")
    await page.get_by_role("banner").get_by_role("link", name="Problems", exact=True).click()
    await expect(page.get_by_text("No domain has a problem.")).to_be_visible()
    await page.get_by_role("link", name="Events", exact=True).click()
    await expect(page.get_by_role("cell", name="domain.verified")).to_be_visible()
    await shot(page, "06-events")

    assert page.elsewhere == []  # every page, script and stylesheet came from TenantCore itself
    assert page.blocked == []  # and the policy the pages send (CSP) blocked nothing they need
    response = await page.request.get("/app")
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    cookie = next(c for c in await page.context.cookies() if c["name"] == "tenantcore_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert service.keys["test"] not in cookie["value"]

    forged = await page.request.post(
        f"/app/tenants/{await tenant_id_of(page)}/domains/{D}/check", form={"csrf": "forged"}
    )
    assert forged.status == 403

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{service.url}/app/login")
    tenant_page = f"/app/tenants/{await tenant_id_of_service(service)}"
    await page.goto(tenant_page)
    await expect(page).to_have_url(f"{service.url}/app/login?next={tenant_page.replace('/', '%2F')}")


async def tenant_id_of(page: Page) -> str:
    await page.goto("/app")
    href = await page.get_by_role("link", name="Acme").get_attribute("href")
    return href.rsplit("/", 1)[1]


async def tenant_id_of_service(service: Service) -> str:
    return next(iter(service.runtime.sandbox.state.tenants))


async def test_a_second_account_cannot_open_the_first_ones_pages(browser, service):
    first = await sign_in(browser, service, service.keys["test"])
    await first.get_by_label("Sandbox tenant name").fill("Acme")
    await first.get_by_role("button", name="Connect sandbox tenant").click()
    await expect(first.get_by_role("heading", name="Acme")).to_be_visible()
    tenant_url = first.url
    await first.get_by_label("One domain per line").fill(D)
    await first.get_by_role("button", name="Add").click()

    other = await service.new_account()
    second = await sign_in(browser, service, other["test"])
    await expect(second.get_by_text("No tenant connected yet.")).to_be_visible()
    for url in (tenant_url, f"{tenant_url}/domains/{D}", f"{tenant_url}/domains/{D}/export?format=csv"):
        response = await second.goto(url)
        assert response.status == 404, url
        await expect(second.get_by_role("heading", name="Not found")).to_be_visible()
    await shot(second, "07-other-account-404")


async def test_a_wrong_key_is_refused(browser, service):
    page = await (await browser.new_context(base_url=service.url)).new_page()
    await page.goto("/app/login")
    await page.get_by_label("API key").fill("tc_test_" + "0" * 48)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")  # an error is announced at once


async def test_usable_with_the_keyboard_alone(browser, service):
    page = await (await browser.new_context(base_url=service.url)).new_page()
    await page.goto("/app/login")
    await expect(page.locator("input[name=api_key]")).to_be_focused()  # the key field has focus on arrival
    await page.keyboard.type(service.keys["test"])
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()

    async def tab_to(name: str) -> None:
        for _ in range(40):
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "document.activeElement.getAttribute('name') || document.activeElement.textContent"
            )
            if focused and focused.strip() == name:
                return
        raise AssertionError(f"could not reach {name!r} with Tab")

    await tab_to("tenant_name")
    await page.keyboard.type("Keyboard Co")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Keyboard Co")).to_be_visible()
    await tab_to("domains")
    await page.keyboard.type(D)
    await tab_to("Add")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("table", name="Results")).to_contain_text("added")
