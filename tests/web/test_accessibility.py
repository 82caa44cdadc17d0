"""Every page of the app checked by axe-core (shipped in the axe-playwright-python package, no CDN)
at a laptop's 1366x900 and a phone's 390x844, in Debian's Chromium: no serious or critical
violation. At phone width nothing scrolls sideways and the collapsed nav still reaches Sign out.
One service, one browser and one data set for the whole module; a screenshot of each page at
each size goes to test-artifacts/ (a11y-<page>-<width>.png)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from ..api.test_history import up
from ..running import Service
from .test_app import ARTIFACTS, CHROMIUM, shot

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEALTHY = "mail.acme-corp.com"
NEW = "newsletters.the-rather-long-named-acme-corporation-international.com"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(tmp_path_factory.mktemp("a11y") / "data", domain_limit=12)
    yield running
    running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pages(service: Service) -> dict[str, str]:
    """A tenant with a healthy domain, a new one and a DNS provider: page name → path."""
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        for name in (HEALTHY, NEW, "shop.acme-corp.com"):
            assert (await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": name})).status_code == 201
        await up(api, f"/v1/tenants/{tenant}/domains/{HEALTHY}")  # events, DKIM CNAMEs, an ok grade
        assert (await api.post("/v1/dns-providers", json={"name": "sandbox", "kind": "sandbox"})).status_code == 201
    return {
        "fleet": "/app",
        "problems": "/app?problems=1",
        "tenant": f"/app/tenants/{tenant}",
        "domain": f"/app/tenants/{tenant}/domains/{HEALTHY}",
        "domain-new": f"/app/tenants/{tenant}/domains/{NEW}",
        "events": "/app/events?type=all",
        "dns-providers": "/app/dns-providers",
        "error": "/app/tenants/00000000-0000-0000-0000-000000000000",
        # Where a tenant admin lands back from Microsoft's consent screen (here: refused).
        "consent-declined": "/v1/tenants/callback?error=access_denied&error_description=AADSTS65004",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed: `./dev test` installs it when run as root")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        await browser.close()


async def signed_in(browser: Browser, service: Service, viewport: dict[str, int], **device: object) -> Page:
    page = await (await browser.new_context(base_url=service.url, viewport=viewport, **device)).new_page()
    await page.goto("/app/login")
    await page.get_by_label("API key").fill(service.keys["test"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    return page


async def blocking_violations(page: Page) -> list[str]:
    """axe's serious and critical violations: rule, impact, and the elements (CSS targets)."""
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


async def test_every_page_has_no_serious_accessibility_violation_at_both_sizes(browser, service, pages):
    page = await (await browser.new_context(base_url=service.url, viewport=LAPTOP)).new_page()
    elsewhere: list[str] = []  # axe comes from the package: nothing is fetched from anywhere else
    page.on("request", lambda r: None if r.url.startswith(service.url) else elsewhere.append(r.url))
    found: dict[str, list[str]] = {}

    async def check(name: str) -> None:
        for size in (LAPTOP, PHONE):
            await page.set_viewport_size(size)
            if problems := await blocking_violations(page):
                found[f"{name}@{size['width']}"] = problems
            await shot(page, f"a11y-{name}-{size['width']}")
        await page.set_viewport_size(LAPTOP)

    await page.goto("/app/login")
    await check("login")
    await page.get_by_label("API key").fill(service.keys["test"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    titles = {}
    for name, path in pages.items():
        response = await page.goto(path)
        expected = {"error": 404, "consent-declined": 400}.get(name, 200)
        assert response is not None and response.status == expected, name
        titles[name] = await page.title()
        await check(name)
    assert found == {}, "\n".join(f"{where}: {p}" for where, problems in found.items() for p in problems)
    assert elsewhere == []
    # Each page says in its title what it is (the problems list is not "Fleet").
    assert titles["fleet"] == "Fleet · TenantCore" and titles["problems"] == "Problems · TenantCore"
    assert titles["events"] == "Events · TenantCore" and titles["dns-providers"] == "DNS providers · TenantCore"
    assert titles["tenant"] == "Acme · TenantCore" and titles["domain"] == f"{HEALTHY} · TenantCore"
    assert titles["error"] == "Not found (404) · TenantCore"
    assert titles["consent-declined"] == "Tenant not connected · TenantCore"


async def test_nav_marks_the_current_page_and_the_skip_link_reaches_the_content(browser, service, pages):
    page = await signed_in(browser, service, LAPTOP)
    nav = page.get_by_role("navigation", name="Main")
    for path, current in (("/app", "Fleet"), ("/app?problems=1", "Problems"), ("/app/events", "Events")):
        await page.goto(path)
        await expect(nav.locator("[aria-current=page]")).to_have_text(current)
        await expect(nav.locator("[aria-current]")).to_have_count(1)
    await page.goto(pages["domain"])  # a domain page sits inside Fleet: marked, but not as the page itself
    await expect(nav.get_by_role("link", name="Fleet")).to_have_attribute("aria-current", "true")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # no menu to open here
    await expect(page.locator("summary", has_text="Menu")).to_be_hidden()
    # Relative times carry their absolute UTC time (on hover) and a machine-readable one.
    when = page.get_by_role("table", name="Recent events").locator("time").first
    await expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    await expect(when).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z$"))

    await page.keyboard.press("Tab")  # the first stop on every page
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()
    await page.keyboard.press("Enter")
    await expect(page.locator("main#main")).to_be_focused()
    await page.keyboard.press("Tab")  # on into the page, past the header
    assert await page.evaluate("document.activeElement.closest('main') !== null")


async def test_at_phone_width_nothing_scrolls_sideways_and_sign_out_is_in_the_menu(browser, service, pages):
    page = await signed_in(browser, service, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    wide = {}
    for name, path in pages.items():
        await page.goto(path)
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > min(width[1], PHONE["width"]):
            wide[name] = width
    assert wide == {}, f"pages wider than the phone (scrollWidth, innerWidth): {wide}"

    # A long DKIM target wraps inside its card, not a character or two per line.
    await page.goto(pages["domain"])
    value = page.get_by_role("table", name="Records to publish").locator("td[data-label=Value]").last
    card = page.get_by_role("table", name="Records to publish").locator("tr").last
    value_box, card_box = await value.bounding_box(), await card.bounding_box()
    assert value_box and card_box and value_box["width"] > 0.8 * card_box["width"], (value_box, card_box)
    # Column names are shown in each card.
    label = await value.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Value"'

    sign_out = page.get_by_role("button", name="Sign out")
    await expect(sign_out).to_be_hidden()  # collapsed behind Menu
    menu = page.locator("summary", has_text="Menu")
    await menu.focus()
    await page.keyboard.press("Enter")  # opens with the keyboard as with a tap
    await expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Events")).to_be_visible()
    await shot(page, "a11y-menu-open-390")
    await sign_out.click()
    await expect(page).to_have_url(f"{service.url}/app/login")
