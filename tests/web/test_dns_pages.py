"""The app's DNS pages: providers (connect, test, remove), the domain's plan and Apply, the
provider and auto-repair choice, and bulk add (typed or CSV) on the tenant page. Over real HTTP
as a browser posts its forms (session cookie, CSRF token from the page), and in Chromium."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import expect

from ..dnsservers import closed_port
from ..running import Service
from .test_app import browser, shot, sign_in  # noqa: F401  (the browser fixture)

D = "mail.acme-corp.com"
ZONE = "acme-corp.com"


class App:
    """A signed-in visitor without a browser: follows redirects, posts forms with the page's CSRF token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    def _keep_csrf(self, response: httpx.Response) -> httpx.Response:
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def get(self, path: str) -> httpx.Response:
        return self._keep_csrf(await self.client.get(path))

    async def post(self, path: str, data: dict[str, str], files: dict | None = None) -> httpx.Response:
        return self._keep_csrf(await self.client.post(path, data={"csrf": self.csrf, **data}, files=files))


@pytest.fixture
async def app(service: Service) -> AsyncIterator[App]:
    async with httpx.AsyncClient(base_url=service.url, follow_redirects=True, timeout=30) as client:
        visitor = App(client)
        await visitor.get("/app/login")
        signed = await visitor.post("/app/login", {"api_key": service.keys["test"]})
        assert signed.status_code == 200 and "Fleet" in signed.text
        yield visitor


def flashes(page: httpx.Response) -> list[str]:
    """Every flash, in order: successes are role=status, errors role=alert."""
    return [
        html.unescape(t) for t in re.findall(r'<div class="flash \w+" role="(?:status|alert)">(.*?)</div>', page.text)
    ]


def plan_rows(page: httpx.Response) -> list[tuple[str, str, str]]:
    """(name, type, action) of each row of the plan table."""
    table = page.text.split('aria-label="DNS plan"', 1)[1].split("</table>", 1)[0]
    return re.findall(
        r'<td data-label="Name" class="mono">(.*?)</td><td data-label="Type">(\w+)</td>\s*'
        r'<td data-label="Action"><span class="badge a-(\w+)">',
        table,
    )


def plan_actions(page: httpx.Response) -> list[str]:
    return [action for _, _, action in plan_rows(page)]


def result_rows(page: httpx.Response) -> dict[str, str]:
    table = page.text.split('aria-label="Results"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<th scope="row">(.*?)</th><td data-label="Result"><span class="badge b-\w+">(\w+)</span> (.*?)</td>', table
    )
    return {html.unescape(name): f"{status}: {html.unescape(text)}" for name, status, text in rows}


async def test_providers_page_connects_tests_and_removes_in_a_browser(browser, service, api, tenant_id):  # noqa: F811
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    page = await sign_in(browser, service, service.keys["test"])
    await page.get_by_role("link", name="DNS providers").click()
    await expect(page.get_by_role("heading", name="DNS providers")).to_be_visible()
    await expect(page.get_by_text("No DNS provider connected yet.")).to_be_visible()
    # Only the chosen kind's settings are shown.
    await page.get_by_label("Kind").select_option("rfc2136")
    await expect(page.get_by_label("key_secret (secret)")).to_be_visible()
    await expect(page.get_by_label("key_secret (secret)")).to_have_attribute("type", "password")
    await page.get_by_label("Kind").select_option("sandbox")
    await expect(page.get_by_label("key_secret (secret)")).to_be_hidden()

    await page.get_by_label("Name", exact=True).fill("sandbox-dns")
    await page.get_by_role("button", name="Connect provider").click()
    await expect(page.get_by_role("status")).to_contain_text("Connected sandbox-dns (sandbox); 1 domain linked")
    row = page.get_by_role("table", name="DNS providers").get_by_role("row", name="sandbox-dns")
    await expect(row).to_contain_text("sandbox")
    await expect(row.get_by_role("cell").nth(3)).to_have_text("1")  # linked domains
    await shot(page, "10-dns-providers")

    await page.get_by_role("button", name="Test sandbox-dns").click()  # a linked domain's zone by default
    await expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"Test passed: read \d+ record set\(s\) at the apex of {ZONE}")
    )
    await page.get_by_label("Zone", exact=True).fill("nowhere.example")
    await page.get_by_role("button", name="Test sandbox-dns").click()
    await expect(page.get_by_role("alert")).to_contain_text("does not hold the zone nowhere.example")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Remove sandbox-dns").click()
    await expect(page.get_by_role("status")).to_contain_text("DNS provider removed")
    await expect(page.get_by_text("No DNS provider connected yet.")).to_be_visible()
    assert page.elsewhere == []


async def test_a_refused_connection_shows_the_providers_message(app):
    secret = "c2VjcmV0LXRzaWcta2V5LWJ5dGVz"
    form = {
        "name": "office-bind",
        "kind": "rfc2136",
        "config-rfc2136-server": "127.0.0.1",
        "config-rfc2136-port": str(closed_port()),
        "config-rfc2136-key_name": "tenantcore",
        "config-rfc2136-timeout": "2",
        "cred-rfc2136-key_secret": secret,
        "zone": ZONE,
    }
    page = await app.post("/app/dns-providers", form)
    # Post/redirect/get: the page is a GET again (reloading it posts nothing), the form kept.
    assert [r.status_code for r in page.history] == [303] and str(page.url).endswith("/app/dns-providers")
    [message] = flashes(page)
    assert message.startswith("DNS server 127.0.0.1:") and "could not be reached" in message, message
    assert secret not in page.text  # the secret is never sent back, the rest of the form is
    assert 'value="office-bind"' in page.text and 'value="tenantcore"' in page.text
    assert "No DNS provider connected yet." in page.text
    again = await app.get("/app/dns-providers")
    assert 'value="office-bind"' not in again.text and flashes(again) == []  # kept for one showing

    bad_port = await app.post("/app/dns-providers", form | {"config-rfc2136-port": "fifty-three"})
    assert flashes(bad_port) == ["rfc2136: port must be a whole number."]
    assert 'value="fifty-three"' in bad_port.text
    no_zone = await app.post("/app/dns-providers", form | {"zone": ""})
    assert "Name a zone" in flashes(no_zone)[0]
    lexicon = await app.post(
        "/app/dns-providers",
        {"name": "pdns", "kind": "lexicon", "config-lexicon-provider_name": "powerdns", "cred-lexicon-pairs": "oops"},
    )
    assert flashes(lexicon) == ["lexicon credentials, line 1: write key=value."]
    unknown = await app.post("/app/dns-providers/nope/test", {"zone": ZONE})
    assert unknown.status_code == 200 and flashes(unknown) == ["No DNS provider nope."]


async def test_the_plan_shows_creates_then_apply_makes_them_unchanged(app, api, tenant_id):
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    url = f"/app/tenants/{tenant_id}/domains/{D}"
    page = await app.get(url)
    assert page.status_code == 200
    actions = plan_actions(page)
    assert actions and set(actions) == {"create"}, actions
    assert f"<strong>sandbox</strong> (sandbox) · zone <code>{ZONE}</code>" in page.text
    assert "auto-repair <strong>off</strong>" in page.text

    applied = await app.post(f"{url}/dns/apply", {})
    assert applied.status_code == 200 and str(applied.url).endswith(url)
    record_sets = {(name, rtype) for name, rtype, _ in plan_rows(page)}  # the two TXT at the name are one set
    assert flashes(applied) == [f"{len(record_sets)} record sets written at sandbox ({ZONE})."]
    assert set(plan_actions(applied)) == {"unchanged"}

    linked = await app.post(f"{url}/dns/provider", {"provider": "none", "current": "none", "auto_repair": "1"})
    assert flashes(linked) == ["Published through no DNS provider; auto-repair on."]
    assert "auto-repair <strong>on</strong>" in linked.text
    auto = await app.post(f"{url}/dns/provider", {"provider": "auto", "current": "none"})
    assert flashes(auto) == [f"None of your DNS providers holds a zone for {D}."]


async def test_no_provider_shows_how_to_connect_one_not_an_error(app, api, service, tenant_id):
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    service.runtime.sandbox.store.remove_zone(ZONE)  # nothing holds the zone any more
    page = await app.get(f"/app/tenants/{tenant_id}/domains/{D}")
    assert page.status_code == 200
    assert f"No DNS provider holds {D}" in page.text and 'href="/app/dns-providers"' in page.text
    applied = await app.post(f"/app/tenants/{tenant_id}/domains/{D}/dns/apply", {"replace_mx": "1"})
    assert applied.status_code == 200 and flashes(applied)[0].startswith(f"No DNS provider holds {D}")


async def test_bulk_add_shows_each_result_after_the_redirect(app, tenant_id):
    typed = "one.acme-corp.com, two.acme-corp.com\nnot a domain\n"
    page = await app.post(f"/app/tenants/{tenant_id}/domains", {"domains": typed})
    assert page.status_code == 200 and str(page.url).endswith(f"/app/tenants/{tenant_id}")
    assert flashes(page) == ["2 added, 1 failed."]
    rows = result_rows(page)
    assert rows["one.acme-corp.com"].startswith("added") and rows["two.acme-corp.com"].startswith("added")
    assert rows["not a domain"].startswith("failed: ") and "characters a host name cannot use" in rows["not a domain"]
    again = await app.get(f"/app/tenants/{tenant_id}")
    assert 'aria-label="Results"' not in again.text  # shown once
    assert ">one.acme-corp.com</a>" in again.text and ">two.acme-corp.com</a>" in again.text

    empty = await app.post(f"/app/tenants/{tenant_id}/domains", {"domains": " \n"})
    assert flashes(empty) == ["Type at least one domain or choose a CSV file."]


async def test_bulk_add_from_a_csv_file(app, tenant_id):
    csv = b"\xef\xbb\xbfDomain,Owner\r\nthree.acme-corp.com,Sales\r\nfour.acme-corp.com,Support\r\n\r\none.acme-corp.com,x\r\n"
    page = await app.post(
        f"/app/tenants/{tenant_id}/domains",
        {"domains": "one.acme-corp.com"},  # listed in both: added once
        files={"csv": ("domains.csv", csv, "text/csv")},
    )
    assert flashes(page) == ["3 added, 0 failed."]
    assert set(result_rows(page)) == {"one.acme-corp.com", "three.acme-corp.com", "four.acme-corp.com"}
